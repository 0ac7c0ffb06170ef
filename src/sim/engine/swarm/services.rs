//! The services, tasks and logs of the simulated Swarm: `POST /services/create`,
//! `GET`/`DELETE /services/{id}`, `GET /tasks?filters=…` and `GET /services/{id}/logs`.

use super::*;

impl Swarm {
    pub(super) fn created_index(&self, id: &str) -> Option<usize> {
        self.created.iter().position(|service| {
            service.id == id || service.spec.get("Name").and_then(Value::as_str) == Some(id)
        })
    }

    pub(super) fn static_service(&self, id: &str) -> Option<Value> {
        self.services
            .iter()
            .find(|service| {
                service.get("ID").and_then(Value::as_str) == Some(id)
                    || service.pointer("/Spec/Name").and_then(Value::as_str) == Some(id)
            })
            .cloned()
    }

    pub(super) fn service_json(&self, index: usize) -> Value {
        let service = &self.created[index];
        json!({
            "ID": service.id,
            "Version": {"Index": service.version},
            "CreatedAt": TIMESTAMP,
            "UpdatedAt": TIMESTAMP,
            "Spec": service.spec,
            "Endpoint": {"Spec": {}},
            "JobStatus": {"JobIteration": {"Index": service.version}, "LastExecution": TIMESTAMP}
        })
    }

    pub(super) fn services_json(&self, query: &str) -> Value {
        let filters = filters(query);
        let all = self
            .services
            .iter()
            .cloned()
            .chain((0..self.created.len()).map(|index| self.service_json(index)));
        Value::Array(
            all.filter(|service| {
                filters.iter().all(|(key, wanted)| match key.as_str() {
                    "label" => labels_match(service.pointer("/Spec/Labels"), wanted),
                    "name" => wanted.iter().any(|name| {
                        service.pointer("/Spec/Name").and_then(Value::as_str) == Some(name)
                    }),
                    "id" => wanted.iter().any(|id| {
                        service
                            .get("ID")
                            .and_then(Value::as_str)
                            .is_some_and(|found| found.starts_with(id.as_str()))
                    }),
                    _ => true,
                })
            })
            .collect(),
        )
    }

    /// The nodes a service's tasks go to: ready, active, and within its placement constraints
    /// (`node.id`, `node.hostname`, `node.role` with `==` or `!=`).
    pub(super) fn eligible(&self, spec: &Value) -> Vec<usize> {
        let constraints: Vec<String> = spec
            .pointer("/TaskTemplate/Placement/Constraints")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|item| item.as_str().map(str::to_string))
            .collect();
        (0..self.nodes.len())
            .filter(|index| {
                let state = &self.nodes[*index];
                state.availability == "active"
                    && state.down_reads == 0
                    && constraints.iter().all(|constraint| {
                        let (field, equal, value) = match constraint.split_once("!=") {
                            Some((field, value)) => (field, false, value),
                            None => match constraint.split_once("==") {
                                Some((field, value)) => (field, true, value),
                                None => return true,
                            },
                        };
                        let actual = match field.trim() {
                            "node.id" => state.node.id(),
                            "node.hostname" => state.node.name.clone(),
                            "node.role" => if state.node.manager {
                                "manager"
                            } else {
                                "worker"
                            }
                            .to_string(),
                            _ => return true,
                        };
                        (actual == value.trim()) == equal
                    })
            })
            .collect()
    }

    pub(super) fn create_service(&mut self, body: &[u8]) -> Outcome {
        let Ok(spec) = serde_json::from_slice::<Value>(body) else {
            return error(StatusCode::BAD_REQUEST, "invalid JSON in the service spec");
        };
        let Some(name) = spec.get("Name").and_then(Value::as_str).map(str::to_string) else {
            return error(StatusCode::BAD_REQUEST, "a service needs a Name");
        };
        if spec
            .pointer("/TaskTemplate/ContainerSpec/Image")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return error(
                StatusCode::BAD_REQUEST,
                "ContainerSpec: image reference must be provided",
            );
        }
        if self.created_index(&name).is_some() || self.static_service(&name).is_some() {
            return error(
                StatusCode::CONFLICT,
                &format!(
                    "rpc error: code = AlreadyExists desc = name conflicts with an existing object: service {name} already exists"
                ),
            );
        }
        let version = self.next_index();
        let id = hex_id(&format!("created service {name} {version}"))[..25].to_string();
        let mode = spec.get("Mode").and_then(Value::as_object);
        let per_node =
            mode.is_none_or(|mode| mode.contains_key("Global") || mode.contains_key("GlobalJob"));
        let eligible = self.eligible(&spec);
        let nodes: Vec<usize> = if per_node {
            eligible
        } else {
            eligible.into_iter().take(1).collect()
        };
        let tasks = nodes
            .into_iter()
            .map(|node| Task {
                id: hex_id(&format!("task {id} {node}"))[..25].to_string(),
                node,
                job: self.nodes[node].node.job.clone(),
                listed: 0,
                shut_down: false,
            })
            .collect();
        self.created.push(Created {
            id: id.clone(),
            spec,
            version,
            tasks,
        });
        json_reply(StatusCode::CREATED, &json!({ "ID": id, "Warnings": null }))
    }

    pub(super) fn tasks_json(&mut self, query: &str) -> Vec<Value> {
        let filters = filters(query);
        let drained: Vec<String> = self
            .nodes
            .iter()
            .filter(|state| state.availability == "drain")
            .map(|state| state.node.id())
            .collect();
        let mut tasks: Vec<Value> = self
            .tasks
            .iter()
            .cloned()
            .map(|mut task| {
                let on_drained = task
                    .get("NodeID")
                    .and_then(Value::as_str)
                    .is_some_and(|node| drained.iter().any(|id| id == node));
                if on_drained {
                    task["DesiredState"] = json!("shutdown");
                    task["Status"]["State"] = json!("shutdown");
                }
                task
            })
            .collect();
        for service in &mut self.created {
            let labels = service
                .spec
                .pointer("/TaskTemplate/ContainerSpec/Labels")
                .cloned();
            for (slot, task) in service.tasks.iter_mut().enumerate() {
                task.listed += 1;
                let (state, err, exit) = task.status();
                let node = &self.nodes[task.node].node;
                let mut status = json!({
                    "Timestamp": TIMESTAMP, "State": state, "Message": state,
                    "ContainerStatus": {"ContainerID": hex_id(&format!("container {}", task.id)), "PID": 0, "ExitCode": exit}
                });
                if let Some(err) = err {
                    status["Err"] = json!(err);
                }
                tasks.push(json!({
                    "ID": task.id,
                    "Version": {"Index": service.version},
                    "CreatedAt": TIMESTAMP,
                    "UpdatedAt": TIMESTAMP,
                    "Labels": {},
                    "Spec": {"ContainerSpec": {"Labels": labels}},
                    "ServiceID": service.id,
                    "Slot": slot + 1,
                    "NodeID": node.id(),
                    "Status": status,
                    "DesiredState": if task.shut_down { "shutdown" } else { "complete" },
                    "JobIteration": {"Index": service.version}
                }));
            }
        }
        let node_ids: BTreeMap<String, String> = self
            .nodes
            .iter()
            .map(|state| (state.node.name.clone(), state.node.id()))
            .collect();
        let service_ids: BTreeMap<String, String> = self
            .created
            .iter()
            .filter_map(|service| {
                Some((
                    service.spec.get("Name")?.as_str()?.to_string(),
                    service.id.clone(),
                ))
            })
            .chain(self.services.iter().filter_map(|service| {
                Some((
                    service.pointer("/Spec/Name")?.as_str()?.to_string(),
                    service.get("ID")?.as_str()?.to_string(),
                ))
            }))
            .collect();
        tasks.retain(|task| {
            filters.iter().all(|(key, wanted)| {
                let field = |name: &str| task.get(name).and_then(Value::as_str).unwrap_or_default();
                match key.as_str() {
                    "service" => wanted.iter().any(|want| {
                        field("ServiceID") == want
                            || service_ids
                                .get(want)
                                .is_some_and(|id| id == field("ServiceID"))
                    }),
                    "node" => wanted.iter().any(|want| {
                        field("NodeID") == want
                            || node_ids.get(want).is_some_and(|id| id == field("NodeID"))
                    }),
                    "desired-state" => wanted.iter().any(|want| field("DesiredState") == want),
                    "label" => labels_match(task.get("Labels"), wanted),
                    _ => true,
                }
            })
        });
        tasks
    }

    /// `GET /services/{id}/logs`: each task's output, one frame per line (stream 1 stdout, 2
    /// stderr), with `details=1` each line prefixed with the task's attributes and a space.
    pub(super) fn logs(&self, id: &str, query: &str) -> Outcome {
        let Some(index) = self.created_index(id) else {
            return match self.static_service(id) {
                Some(_) => bytes_reply(Vec::new()),
                None => error(StatusCode::NOT_FOUND, &format!("service {id} not found")),
            };
        };
        let service = &self.created[index];
        let (stdout, stderr) = (truthy(query, "stdout"), truthy(query, "stderr"));
        if !stdout && !stderr {
            return error(
                StatusCode::BAD_REQUEST,
                "Bad parameters: you must choose at least one stream",
            );
        }
        let details = truthy(query, "details");
        let mut body = Vec::new();
        for task in service.tasks.iter().filter(|task| task.started()) {
            let attributes = format!(
                "com.docker.swarm.node.id={},com.docker.swarm.service.id={},com.docker.swarm.task.id={}",
                self.nodes[task.node].node.id(),
                service.id,
                task.id
            );
            let (out, err) = match &task.job {
                SimJob::Complete { stdout, stderr } => (stdout.as_str(), stderr.as_str()),
                SimJob::Fail { stderr, .. } => ("", stderr.as_str()),
                SimJob::Hang | SimJob::Reject(_) => ("", ""),
            };
            for (stream, text, wanted) in [(1u8, out, stdout), (2u8, err, stderr)] {
                if !wanted {
                    continue;
                }
                for line in text.split_inclusive('\n') {
                    let mut payload = Vec::new();
                    if details {
                        payload.extend_from_slice(attributes.as_bytes());
                        payload.push(b' ');
                    }
                    payload.extend_from_slice(line.as_bytes());
                    frame(&mut body, stream, &payload);
                }
            }
        }
        bytes_reply(body)
    }
}

/// One frame of Docker's multiplexed stream: `[stream, 0, 0, 0, size (u32 big endian)]`, then
/// the payload.
pub(crate) fn frame(out: &mut Vec<u8>, stream: u8, payload: &[u8]) {
    out.extend_from_slice(&[stream, 0, 0, 0]);
    let size = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(payload);
}

/// A multiplexed stream, as the Engine answers it (API 1.42 and later name the type).
fn bytes_reply(body: Vec<u8>) -> Outcome {
    let mut response =
        hyper::Response::new(http_body_util::Full::new(hyper::body::Bytes::from(body)));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/vnd.docker.multiplexed-stream"),
    );
    Outcome::Reply(Box::new(response))
}
