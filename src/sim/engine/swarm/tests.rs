use super::*;

fn body(outcome: Outcome) -> (u16, Vec<u8>) {
    let Outcome::Reply(response) = outcome else {
        panic!("a reply");
    };
    let status = response.status().as_u16();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let bytes = runtime
        .block_on(http_body_util::BodyExt::collect(response.into_body()))
        .expect("body")
        .to_bytes()
        .to_vec();
    (status, bytes)
}

fn json_of(outcome: Outcome) -> (u16, Value) {
    let (status, bytes) = body(outcome);
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[test]
fn a_global_job_runs_once_per_active_node_and_logs_with_details() {
    let mut cluster = SimCluster::with_nodes(1, 2);
    cluster.node_mut("worker-1").unwrap().job = SimJob::Complete {
        stdout: "{\n  \"a\": 1\n}\n".into(),
        stderr: String::new(),
    };
    cluster.node_mut("worker-2").unwrap().job = SimJob::Fail {
        code: 1,
        stderr: "error: boom\n".into(),
    };
    let mut swarm = Swarm::new(&cluster);
    let spec = json!({"Name": "scan", "Mode": {"GlobalJob": {}},
                      "TaskTemplate": {"ContainerSpec": {"Image": "stigfix:1", "Labels": {"com.stigfix.scanner": "1"}}}});
    let (status, created) = json_of(
        swarm
            .answer(
                &Method::POST,
                "/services/create",
                "",
                spec.to_string().as_bytes(),
            )
            .unwrap(),
    );
    assert_eq!(status, 201);
    let id = created["ID"].as_str().unwrap().to_string();
    let query = format!("filters=%7B%22service%22%3A%5B%22{id}%22%5D%7D");
    let (_, first) = json_of(swarm.answer(&Method::GET, "/tasks", &query, b"").unwrap());
    assert_eq!(first.as_array().unwrap().len(), 3);
    assert!(
        first
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["Status"]["State"] == "running")
    );
    let (_, second) = json_of(swarm.answer(&Method::GET, "/tasks", &query, b"").unwrap());
    let states: Vec<&str> = second
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["Status"]["State"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["complete", "complete", "failed"]);
    let (_, logs) = body(
        swarm
            .answer(
                &Method::GET,
                &format!("/services/{id}/logs"),
                "stdout=1&stderr=1&details=1",
                b"",
            )
            .unwrap(),
    );
    assert_eq!(logs[0], 1);
    let size = u32::from_be_bytes([logs[4], logs[5], logs[6], logs[7]]) as usize;
    let first_line = String::from_utf8_lossy(&logs[8..8 + size]).into_owned();
    assert!(
        first_line.starts_with("com.docker.swarm.node.id="),
        "{first_line}"
    );
    assert!(first_line.ends_with(" {\n"), "{first_line}");
    let (status, _) = json_of(
        swarm
            .answer(&Method::DELETE, &format!("/services/{id}"), "", b"")
            .unwrap(),
    );
    assert_eq!(status, 200);
    let (_, services) = json_of(
        swarm
            .answer(
                &Method::GET,
                "/services",
                "filters=%7B%22label%22%3A%5B%22com.stigfix.scanner%22%5D%7D",
                b"",
            )
            .unwrap(),
    );
    assert_eq!(services, json!([]));
}

#[test]
fn node_updates_are_versioned_and_a_drain_moves_tasks_off() {
    let cluster = SimCluster::with_nodes(1, 1);
    let mut swarm = Swarm::new(&cluster);
    let worker = cluster.nodes[1].id();
    let spec = json!({"Role": "worker", "Availability": "drain", "Labels": {}}).to_string();
    let (status, _) = json_of(
        swarm
            .answer(
                &Method::POST,
                &format!("/nodes/{worker}/update"),
                "version=9",
                spec.as_bytes(),
            )
            .unwrap(),
    );
    assert_eq!(status, 500, "a stale version is refused");
    let (status, _) = json_of(
        swarm
            .answer(
                &Method::POST,
                &format!("/nodes/{worker}/update"),
                "version=10",
                spec.as_bytes(),
            )
            .unwrap(),
    );
    assert_eq!(status, 200);
    let (_, node) = json_of(
        swarm
            .answer(&Method::GET, &format!("/nodes/{worker}"), "", b"")
            .unwrap(),
    );
    assert_eq!(node["Spec"]["Availability"], "drain");
    assert_eq!(node["Version"]["Index"], 101);
    let query = format!(
        "filters={}",
        json!({"node": [worker], "desired-state": ["running"]})
    );
    let (_, tasks) = json_of(swarm.answer(&Method::GET, "/tasks", &query, b"").unwrap());
    assert_eq!(tasks, json!([]));
}

#[test]
fn a_restart_file_takes_the_node_down_for_a_while_or_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = SimCluster::with_nodes(1, 2);
    for (name, back) in [("worker-1", true), ("worker-2", false)] {
        let node = cluster.node_mut(name).unwrap();
        node.restart_file = Some(dir.path().join(name));
        node.comes_back = back;
    }
    let mut swarm = Swarm::new(&cluster);
    let states = |swarm: &mut Swarm| -> Vec<String> {
        let (_, nodes) = json_of(swarm.answer(&Method::GET, "/nodes", "", b"").unwrap());
        nodes
            .as_array()
            .unwrap()
            .iter()
            .map(|node| node["Status"]["State"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(states(&mut swarm), ["ready", "ready", "ready"]);
    std::fs::write(dir.path().join("worker-1"), "").unwrap();
    std::fs::write(dir.path().join("worker-2"), "").unwrap();
    assert_eq!(states(&mut swarm), ["ready", "down", "down"]);
    assert_eq!(states(&mut swarm), ["ready", "down", "down"]);
    assert_eq!(states(&mut swarm), ["ready", "ready", "down"]);
    assert!(!dir.path().join("worker-1").exists());
    assert_eq!(states(&mut swarm), ["ready", "ready", "down"]);
}
