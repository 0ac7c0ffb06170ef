use super::*;
use serde_json::json;

fn get<'a>(fields: &'a Fields, path: &[&str]) -> &'a Slot {
    let key: Vec<String> = path.iter().map(|s| s.to_string()).collect();
    fields
        .get(&key)
        .unwrap_or_else(|| panic!("{path:?} in {fields:?}"))
}

fn set(value: impl Into<toml::Value>) -> Slot {
    Slot::Set(value.into())
}

#[test]
fn security_options_in_both_spellings_and_the_daemon_default() {
    let inspect = json!({"HostConfig": {"SecurityOpt": ["seccomp:unconfined", "label=disable"]}});
    let unknown = NodeDefaults {
        why_unknown: Some("UCP answers one /info for the cluster".into()),
        ..NodeDefaults::default()
    };
    let fields = fields(&inspect, &unknown, false);
    assert_eq!(get(&fields, &["seccomp"]), &set("unconfined"));
    assert!(
        matches!(get(&fields, &["no_new_privileges"]), Slot::Unknown(why) if why.contains("one /info"))
    );

    let inspect = json!({"HostConfig": {"SecurityOpt": ["seccomp=unconfined"]}});
    let on = NodeDefaults {
        no_new_privileges: Some(true),
        ..NodeDefaults::default()
    };
    let fields = super::fields(&inspect, &on, false);
    assert_eq!(get(&fields, &["seccomp"]), &set("unconfined"));
    assert_eq!(get(&fields, &["no_new_privileges"]), &set(true));

    // The container's own option wins over the daemon's default, either way.
    let inspect = json!({"HostConfig": {"SecurityOpt": ["no-new-privileges=false"]}});
    let fields = super::fields(&inspect, &on, false);
    assert_eq!(get(&fields, &["no_new_privileges"]), &set(false));
    let inspect = json!({"HostConfig": {"SecurityOpt": ["no-new-privileges"]}});
    let fields = super::fields(&inspect, &unknown, false);
    assert_eq!(get(&fields, &["no_new_privileges"]), &set(true));
    assert_eq!(get(&fields, &["seccomp"]), &set("default"));
}

#[test]
fn stopped_containers_keep_their_port_bindings_and_ucp_rewrites_are_seen() {
    let inspect = json!({
        "State": {"Running": false},
        "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "80"}],
                                         "53/udp": [{"HostIp": "10.0.0.5", "HostPort": "5353"}]},
                       "PublishAllPorts": true},
        "NetworkSettings": {"Ports": {}}
    });
    let fields = fields(&inspect, &NodeDefaults::default(), false);
    let key = "0.0.0.0:80->80/tcp";
    assert_eq!(get(&fields, &["port_bindings", key, "host_port"]), &set(80));
    assert_eq!(get(&fields, &["port_bindings", key, "host_ip"]), &set(""));
    assert_eq!(
        get(&fields, &["port_bindings", key, "published"]),
        &set("80/tcp")
    );
    assert_eq!(
        get(
            &fields,
            &["port_bindings", "10.0.0.5:5353->53/udp", "published"]
        ),
        &set("5353/udp")
    );
    assert_eq!(
        get(&fields, &["port_bindings", "-P", "published"]),
        &set("-P")
    );
    // Not running: no health status is asked for, a missing healthcheck still shows.
    assert_eq!(get(&fields, &["healthcheck"]), &set(false));
    assert!(!fields.contains_key(&vec!["health".to_string()]));

    // Running under UCP: NetworkSettings repeats the binding with the node's address in
    // place of 0.0.0.0 (one binding, not two); a port chosen by -P is unknown.
    let node = NodeDefaults {
        address: Some("10.0.0.7".into()),
        ..NodeDefaults::default()
    };
    let inspect = json!({
        "State": {"Running": true, "Health": {"Status": "healthy"}},
        "Config": {"Healthcheck": {"Test": ["CMD", "true"]}},
        "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}},
        "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "10.0.0.7", "HostPort": "8080"}],
                                      "443/tcp": [{"HostIp": "10.0.0.7", "HostPort": "32768"}]}}
    });
    let fields = super::fields(&inspect, &node, false);
    let bindings: Vec<&Vec<String>> = fields
        .keys()
        .filter(|key| key[0] == "port_bindings" && key[2] == "published")
        .collect();
    assert_eq!(bindings.len(), 2, "{bindings:?}");
    assert!(matches!(
        get(
            &fields,
            &["port_bindings", "10.0.0.7:32768->443/tcp", "host_ip"]
        ),
        Slot::Unknown(_)
    ));
    assert_eq!(get(&fields, &["health"]), &set("healthy"));
}

#[test]
fn capabilities_devices_mounts_users_and_limits() {
    let inspect = json!({
        "State": {"Running": true},
        "Config": {"User": "0:0"},
        "HostConfig": {
            "CapAdd": ["cap_net_admin", "SYS_TIME"],
            "Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"}],
            "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
            "PidsLimit": null, "Memory": 0, "CpuShares": 512,
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 10}
        },
        "Mounts": [
            {"Type": "bind", "Source": "/var/run/docker.sock", "Destination": "/var/run/docker.sock", "RW": false, "Propagation": "rprivate"},
            {"Type": "bind", "Source": "/etc", "Destination": "/host/etc", "RW": true, "Propagation": "rshared"}
        ]
    });
    let fields = fields(&inspect, &NodeDefaults::default(), false);
    assert_eq!(get(&fields, &["cap_add", "NET_ADMIN"]), &set("NET_ADMIN"));
    assert_eq!(get(&fields, &["cap_add", "SYS_TIME"]), &set("SYS_TIME"));
    assert_eq!(get(&fields, &["devices", "/dev/fuse"]), &set("/dev/fuse"));
    assert_eq!(
        get(&fields, &["ulimits", "nofile"]),
        &set("nofile=1024:2048")
    );
    assert_eq!(get(&fields, &["pids_limit"]), &set(0));
    assert_eq!(get(&fields, &["user"]), &set("0"));
    assert_eq!(get(&fields, &["restart_retries"]), &set(10));
    assert_eq!(
        get(&fields, &["docker_socket_mounts"]),
        &set(toml::Value::Array(vec!["/var/run/docker.sock".into()]))
    );
    assert_eq!(get(&fields, &["rw_host_mounts", "/host/etc"]), &set("/etc"));
    assert!(!fields.contains_key(&vec![
        "rw_host_mounts".to_string(),
        "/var/run/docker.sock".to_string()
    ]));
    assert_eq!(
        get(&fields, &["mounts", "/host/etc", "propagation"]),
        &set("rshared")
    );
    assert!(
        matches!(get(&fields, &["health"]), Slot::Absent(why) if why.contains("no healthcheck"))
    );
}

#[test]
fn an_inspect_is_read_for_what_the_fields_need() {
    let body = r#"{"Id": "x", "State": {"Running": true, "Health": {"Status": "healthy", "Log": [{"Output": "ok"}]}},
        "Config": {"User": "1000:1000", "Env": ["A=1"], "Healthcheck": {"Test": ["CMD", "true"]}},
        "HostConfig": {"Privileged": true}, "GraphDriver": {"Data": {}}, "Mounts": [],
        "NetworkSettings": {"Networks": {"bridge": {}}, "Ports": {}}, "Node": {"IP": "10.0.0.1"}}"#;
    let reduced = parse_inspect(body).unwrap();
    assert!(reduced.pointer("/Config/Env").is_none());
    let fields = fields(&reduced, &NodeDefaults::default(), false);
    assert_eq!(get(&fields, &["privileged"]), &set(true));
    assert_eq!(get(&fields, &["user"]), &set("1000"));
    assert_eq!(get(&fields, &["health"]), &set("healthy"));
    assert_eq!(get(&fields, &["healthcheck"]), &set(true));
    // No health at all is not a null status.
    let reduced = parse_inspect(r#"{"State": {"Running": true}}"#).unwrap();
    assert!(reduced.pointer("/State/Health").is_none());
    assert!(parse_inspect("not json").is_err());
}

#[test]
fn a_pod_sandbox_is_checked_for_its_namespaces_only() {
    let inspect = json!({"HostConfig": {"NetworkMode": "host", "Privileged": true}});
    let fields = fields(&inspect, &NodeDefaults::default(), true);
    assert_eq!(get(&fields, &["network_mode"]), &set("host"));
    assert_eq!(fields.len(), NAMESPACE_FIELDS.len());
}
