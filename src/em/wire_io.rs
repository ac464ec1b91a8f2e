//! The client's view of the wire bodies: thin functions over [`super::wire`]
//! (the one definition of every body) that pick out what the client needs.
//! Errors are plain strings, wrapped by the client into `EmError::Protocol`.

use crate::cli::Wire;
use crate::em::client::{BackupServer, TaskStatus};
use crate::em::wire::{
    self, CloudPublicIpAddressCreateSpec, EntityReferences, ErrorBody, LogonSession, QueryItems,
    QueryResult, Task, Tasks,
};

/// One page of a pool query.
#[derive(Debug)]
pub struct PoolPage {
    /// The addresses on this page (`IpAddress`, else `Name`).
    pub addresses: Vec<String>,
    /// The `Next` page's link, if any.
    pub next: Option<String>,
}

/// One page of a task query.
#[derive(Debug)]
pub struct TaskPage {
    pub tasks: Vec<TaskStatus>,
    pub next: Option<String>,
}

/// The body of `POST /cloud/publicIpAddresses` and its content type.
pub fn encode_create_spec(
    format: Wire,
    backup_server_uid: &str,
    first: &str,
    last: &str,
) -> (Vec<u8>, &'static str) {
    let spec = CloudPublicIpAddressCreateSpec {
        backup_server_uid: backup_server_uid.trim().to_string(),
        ip_address_lower_bound: first.to_string(),
        ip_address_upper_bound: last.to_string(),
    };
    (wire::encode(&spec, format), wire::content_type(format))
}

/// The logoff link of a logon answer (`None` if it has none).
pub fn decode_logon_href(format: Wire, body: &[u8]) -> Result<Option<String>, String> {
    let session: LogonSession = wire::decode(body, format).map_err(|e| e.to_string())?;
    let href = session.logoff_href();
    Ok((!href.is_empty()).then(|| href.to_string()))
}

/// The backup servers of `GET /backupServers` (references).
pub fn decode_backup_servers(format: Wire, body: &[u8]) -> Result<Vec<BackupServer>, String> {
    let refs: EntityReferences = wire::decode(body, format).map_err(|e| e.to_string())?;
    Ok(refs
        .refs
        .into_iter()
        .map(|r| BackupServer {
            name: r.name,
            uid: r.uid.trim().to_string(),
        })
        .collect())
}

/// One page of `GET /query?type=CloudPublicIpAddress&format=Entities`.
pub fn decode_pool_page(format: Wire, body: &[u8]) -> Result<PoolPage, String> {
    let result: QueryResult = wire::decode(body, format).map_err(|e| e.to_string())?;
    let addresses = match &result.items {
        QueryItems::PublicIps(ips) => ips
            .iter()
            .map(|ip| {
                if ip.ip_address.trim().is_empty() {
                    ip.name.trim().to_string()
                } else {
                    ip.ip_address.trim().to_string()
                }
            })
            .collect(),
        QueryItems::Refs(refs) => refs.iter().map(|r| r.name.trim().to_string()).collect(),
        QueryItems::Tasks(_) => return Err("expected pool addresses, found tasks".into()),
    };
    Ok(PoolPage {
        addresses,
        next: result.paging.next_href().map(str::to_string),
    })
}

/// One task (`202` answers, `GET /tasks/{id}`).
pub fn decode_task(format: Wire, body: &[u8]) -> Result<TaskStatus, String> {
    let task: Task = wire::decode(body, format).map_err(|e| e.to_string())?;
    Ok(status_of(task))
}

/// One page of `GET /query?type=Task&format=Entities`.
pub fn decode_task_page(format: Wire, body: &[u8]) -> Result<TaskPage, String> {
    let result: QueryResult = wire::decode(body, format).map_err(|e| e.to_string())?;
    let tasks = match result.items {
        QueryItems::Tasks(tasks) => tasks.into_iter().map(status_of).collect(),
        // An empty answer may come without the entity wrapper.
        QueryItems::Refs(refs) if refs.is_empty() => Vec::new(),
        QueryItems::PublicIps(ips) if ips.is_empty() => Vec::new(),
        _ => return Err("expected tasks, found other entities".into()),
    };
    Ok(TaskPage {
        tasks,
        next: result.paging.next_href().map(str::to_string),
    })
}

/// The tasks of `GET /tasks`.
pub fn decode_task_list(format: Wire, body: &[u8]) -> Result<Vec<TaskStatus>, String> {
    let tasks: Tasks = wire::decode(body, format).map_err(|e| e.to_string())?;
    Ok(tasks.tasks.into_iter().map(status_of).collect())
}

/// The message of an `Error` body, if the body is one.
pub fn decode_error_message(format: Wire, body: &[u8]) -> Option<String> {
    let error: ErrorBody = wire::decode(body, format).ok()?;
    let message = error.message.trim();
    (!message.is_empty()).then(|| message.to_string())
}

fn status_of(task: Task) -> TaskStatus {
    TaskStatus {
        id: task.task_id,
        state: task.state.as_str().to_string(),
        success: task.result.as_ref().map(|r| r.success),
        message: task.result.map(|r| r.message).unwrap_or_default(),
    }
}
