use super::*;

#[test]
fn the_most_specific_value_applies() {
    let values = Values::from_yaml(
        r#"
limit.historyCount.suggestContinueAsNew:
  - value: 100
  - value: 50
    constraints: {namespace: payments}
matching.longPollExpirationInterval:
  - value: "30s"
    constraints: {taskQueueName: orders}
  - value: "5s"
    constraints: {namespace: payments, taskQueueName: orders, taskType: Activity}
some.otherKey:
  - value: 3
"#,
    )
    .unwrap();
    let config = DynamicConfig::new(values);
    let can = &keys::SUGGEST_CAN_EVENTS;
    assert_eq!(config.int(can, Scope::namespace("default")), Some(100));
    assert_eq!(config.int(can, Scope::namespace("payments")), Some(50));
    let poll = &keys::POLL_TIMEOUT;
    let at = |namespace, task_type| Scope {
        namespace,
        task_queue: "orders",
        task_type,
    };
    assert_eq!(
        config.duration(poll, at("payments", "Activity")),
        Some(Duration::from_secs(5))
    );
    assert_eq!(
        config.duration(poll, at("payments", "Workflow")),
        Some(Duration::from_secs(30))
    );
    assert_eq!(config.duration(poll, Scope::namespace("payments")), None);
    assert_eq!(config.values().ignored, ["some.otherKey"]);
}

#[test]
fn keys_are_case_insensitive_and_flags_win() {
    let file = Values::from_yaml("SYSTEM.enableEagerWorkflowStart: [{value: false}]").unwrap();
    let mut flags = Values::default();
    flags
        .add_flag("system.enableEagerWorkflowStart=true")
        .unwrap();
    let config = DynamicConfig::new(flags.then(file));
    assert_eq!(
        config.bool(&keys::EAGER_WORKFLOW_START, Scope::default()),
        Some(true)
    );
}

#[test]
fn bad_values_name_their_key() {
    let refused = |text: &str| Values::from_yaml(text).unwrap_err();
    assert_eq!(
        refused("limit.maxIDLength: [{value: 0}]").to_string(),
        "key 'limit.maxIDLength': Number(0) is not a whole number of at least 1"
    );
    assert_eq!(
        refused("history.longPollExpirationInterval: [{value: soon}]").key,
        "history.longPollExpirationInterval"
    );
    assert_eq!(
        refused("frontend.activityAPIsEnabled: [{value: false}]").key,
        "frontend.activityAPIsEnabled"
    );
    assert!(refused("limit.maxIDLength: 3").message.contains("list"));
    assert!(
        refused("limit.maxIDLength: [{value: 3, constraints: {shardId: '1'}}]")
            .message
            .contains("shardId")
    );
    let mut flags = Values::default();
    assert_eq!(
        flags.add_flag("nokey").unwrap_err().key,
        "--dynamic-config-value"
    );
    assert_eq!(Values::from_yaml("").unwrap(), Values::default());
}

#[test]
fn lists_of_strings_are_read_and_other_values_refused() {
    let mut flags = Values::default();
    flags
        .add_flag(r#"frontend.httpAllowedHosts=["localhost:*", "example.com"]"#)
        .unwrap();
    let config = DynamicConfig::new(flags);
    assert_eq!(
        config.strings(&keys::HTTP_ALLOWED_HOSTS, Scope::default()),
        Some(vec!["localhost:*".to_string(), "example.com".to_string()])
    );
    let refused = Values::from_yaml("frontend.httpAllowedHosts: [{value: [1]}]").unwrap_err();
    assert_eq!(refused.key, "frontend.httpAllowedHosts");
    assert!(
        refused.to_string().contains("not a list of strings"),
        "{refused}"
    );
}
