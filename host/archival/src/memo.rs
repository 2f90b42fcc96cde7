//! A visibility record's memo in its JSON file: the memo's proto3 JSON form.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sundial_api::json;
use sundial_api::protos::temporal::api::common::v1::Memo;

const MEMO: &str = "temporal.api.common.v1.Memo";

pub fn serialize<S: Serializer>(memo: &Option<Memo>, s: S) -> Result<S::Ok, S::Error> {
    memo.as_ref().map(|m| json::to_json(m, MEMO)).serialize(s)
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Memo>, D::Error> {
    Option::<serde_json::Value>::deserialize(d)?
        .map(|v| json::from_json(v, MEMO).map_err(serde::de::Error::custom))
        .transpose()
}
