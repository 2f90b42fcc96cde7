//! The descriptor set compiled by `build.rs`: both services with their method options, and
//! every message they use.

use std::sync::LazyLock;

use prost_reflect::DescriptorPool;

pub static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(&include_bytes!(concat!(env!("OUT_DIR"), "/http_descriptors.bin"))[..])
        .expect("the descriptor set compiled by build.rs decodes")
});
