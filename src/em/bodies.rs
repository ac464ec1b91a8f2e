//! Every body spoken with Enterprise Manager, one Rust definition each.
//!
//! Field names follow the vendor: JSON keys are the XML names (PascalCase,
//! attributes and elements alike); XML writes attributes as attributes and
//! elements in the order of `RestAPI.xsd`. Use [`super::wire::encode`] and
//! [`super::wire::decode`] to move them over the wire.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::wire::{Body, Wire, WireError, decode_json, lenient_list, list_items};
use super::xml::{XElem, XmlWriter};

/// A hyperlink: `<Link Href=".." Name=".." Type=".." Rel=".." />`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    #[serde(rename = "Rel", default)]
    pub rel: String,
    #[serde(rename = "Href", default)]
    pub href: String,
    #[serde(rename = "Name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
}

impl Link {
    /// A link with a relation, address and type.
    pub fn new(rel: &str, href: impl Into<String>, type_: &str) -> Link {
        Link {
            rel: rel.to_string(),
            href: href.into(),
            name: None,
            type_: Some(type_.to_string()),
        }
    }
}

/// The first link with that relation (`Delete`, `Next`, ...).
pub fn find_link<'a>(links: &'a [Link], rel: &str) -> Option<&'a Link> {
    links.iter().find(|l| l.rel.eq_ignore_ascii_case(rel))
}

/// `<Links>` with its `<Link>`s; left out when there are none (the schema's
/// `ResourceType` makes it optional).
fn write_links(w: &mut XmlWriter, links: &[Link]) {
    if !links.is_empty() {
        write_links_always(w, links);
    }
}

/// `<Links>`, even empty (where the schema requires the element).
fn write_links_always(w: &mut XmlWriter, links: &[Link]) {
    w.open("Links", &[]);
    for l in links {
        w.empty(
            "Link",
            &[
                ("Href", Some(&l.href)),
                ("Name", l.name.as_deref()),
                ("Type", l.type_.as_deref()),
                ("Rel", Some(&l.rel)),
            ],
        );
    }
    w.close("Links");
}

/// A list element holding one child per item.
fn write_list<T>(w: &mut XmlWriter, name: &str, items: &[T], write: impl Fn(&mut XmlWriter, &T)) {
    w.open(name, &[]);
    for item in items {
        write(w, item);
    }
    w.close(name);
}

/// The items of a list element: every child of that name.
fn read_list<T>(
    list: &XElem,
    item: &str,
    read: impl Fn(&XElem) -> Result<T, WireError>,
) -> Result<Vec<T>, WireError> {
    list.children_named(item).map(read).collect()
}

fn read_links(e: &XElem) -> Vec<Link> {
    e.child("Links")
        .map(|links| {
            links
                .children_named("Link")
                .map(|l| Link {
                    rel: l.attr("Rel").unwrap_or_default().to_string(),
                    href: l.attr("Href").unwrap_or_default().to_string(),
                    name: l.attr("Name").map(str::to_string),
                    type_: l.attr("Type").map(str::to_string),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn opt(s: &Option<String>) -> Option<&str> {
    s.as_deref()
}

// ---------------------------------------------------------------- root

/// `GET /api/`: the entry point, with the logon links.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnterpriseManager {
    #[serde(rename = "Href", default)]
    pub href: String,
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(rename = "Links", default, deserialize_with = "lenient_list")]
    pub links: Vec<Link>,
    #[serde(
        rename = "SupportedVersions",
        default,
        deserialize_with = "lenient_list"
    )]
    pub supported_versions: Vec<SupportedVersion>,
}

/// One API version the server speaks, with its logon link.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportedVersion {
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "Links", default, deserialize_with = "lenient_list")]
    pub links: Vec<Link>,
}

impl Body for EnterpriseManager {
    const ROOT: &'static str = "EnterpriseManager";
    fn write_xml(&self, w: &mut XmlWriter) {
        w.open(
            Self::ROOT,
            &[("Href", Some(&self.href)), ("Type", opt(&self.type_))],
        );
        write_links(w, &self.links);
        w.open("SupportedVersions", &[]);
        for v in &self.supported_versions {
            w.open("SupportedVersion", &[("Name", Some(&v.name))]);
            // The schema requires Links here, even when empty.
            write_links_always(w, &v.links);
            w.close("SupportedVersion");
        }
        w.close("SupportedVersions");
        w.close(Self::ROOT);
    }
    fn read_xml(root: &XElem) -> Result<Self, WireError> {
        Ok(EnterpriseManager {
            href: root.attr("Href").unwrap_or_default().to_string(),
            type_: root.attr("Type").map(str::to_string),
            links: read_links(root),
            supported_versions: root
                .child("SupportedVersions")
                .map(|vs| {
                    vs.children_named("SupportedVersion")
                        .map(|v| SupportedVersion {
                            name: v.attr("Name").unwrap_or_default().to_string(),
                            links: read_links(v),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

// ---------------------------------------------------------------- logon

/// The answer to a logon: who, which session, and its links (the `Delete`
/// link logs off).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogonSession {
    #[serde(rename = "Href", default)]
    pub href: String,
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(rename = "Links", default, deserialize_with = "lenient_list")]
    pub links: Vec<Link>,
    #[serde(rename = "UserName", default)]
    pub user_name: String,
    #[serde(rename = "SessionId", default)]
    pub session_id: String,
}

impl LogonSession {
    /// Where to send `DELETE` to log off: the `Delete` link, else the session's own address.
    pub fn logoff_href(&self) -> &str {
        find_link(&self.links, "Delete")
            .map(|l| l.href.as_str())
            .unwrap_or(&self.href)
    }
}

impl Body for LogonSession {
    const ROOT: &'static str = "LogonSession";
    fn write_xml(&self, w: &mut XmlWriter) {
        w.open(
            Self::ROOT,
            &[("Href", Some(&self.href)), ("Type", opt(&self.type_))],
        );
        write_links(w, &self.links);
        w.leaf("UserName", &self.user_name);
        w.leaf("SessionId", &self.session_id);
        w.close(Self::ROOT);
    }
    fn read_xml(root: &XElem) -> Result<Self, WireError> {
        Ok(LogonSession {
            href: root.req_attr("Href")?.to_string(),
            type_: root.attr("Type").map(str::to_string),
            links: read_links(root),
            user_name: root.child_text("UserName").unwrap_or_default().to_string(),
            session_id: root.req_child_text("SessionId")?.trim().to_string(),
        })
    }
}

// ---------------------------------------------------------------- references

/// A reference to an entity: `<Ref UID=".." Name=".." Href=".." Type="..">`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityRef {
    #[serde(rename = "UID", default)]
    pub uid: String,
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "Href", default)]
    pub href: String,
    #[serde(rename = "Type", default)]
    pub type_: String,
    #[serde(
        rename = "Links",
        default,
        deserialize_with = "lenient_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub links: Vec<Link>,
}

fn write_ref(w: &mut XmlWriter, r: &EntityRef) {
    write_ref_named(w, "Ref", r);
}

/// A reference under `name`: `Ref` inside lists, `EntityRef` as a root.
fn write_ref_named(w: &mut XmlWriter, name: &str, r: &EntityRef) {
    let attrs = [
        ("UID", Some(r.uid.as_str())),
        ("Name", Some(r.name.as_str())),
        ("Href", Some(r.href.as_str())),
        ("Type", Some(r.type_.as_str())),
    ];
    if r.links.is_empty() {
        w.empty(name, &attrs);
    } else {
        w.open(name, &attrs);
        write_links(w, &r.links);
        w.close(name);
    }
}

/// A single resource's reference representation (`GET /api/backupServers/{id}`
/// without `?format=Entity`): the schema's root `EntityRef`.
impl Body for EntityRef {
    const ROOT: &'static str = "EntityRef";
    fn write_xml(&self, w: &mut XmlWriter) {
        write_ref_named(w, Self::ROOT, self);
    }
    fn read_xml(root: &XElem) -> Result<Self, WireError> {
        Ok(read_ref(root))
    }
}

fn read_ref(e: &XElem) -> EntityRef {
    EntityRef {
        uid: e.attr("UID").unwrap_or_default().trim().to_string(),
        name: e.attr("Name").unwrap_or_default().to_string(),
        href: e.attr("Href").unwrap_or_default().to_string(),
        type_: e.attr("Type").unwrap_or_default().to_string(),
        links: read_links(e),
    }
}

/// A list of references (`GET /api/backupServers`, `GET /api/cloud/publicIpAddresses`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityReferences {
    #[serde(rename = "Refs", default, deserialize_with = "lenient_list")]
    pub refs: Vec<EntityRef>,
}

impl Body for EntityReferences {
    const ROOT: &'static str = "EntityReferences";
    fn write_xml(&self, w: &mut XmlWriter) {
        write_list(w, Self::ROOT, &self.refs, write_ref);
    }
    fn read_xml(root: &XElem) -> Result<Self, WireError> {
        Ok(EntityReferences {
            refs: root.children_named("Ref").map(read_ref).collect(),
        })
    }
}

// ---------------------------------------------------------------- backup servers

/// A backup server entity (`GET /api/backupServers?format=Entity`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupServer {
    #[serde(rename = "Href", default)]
    pub href: String,
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "UID", default)]
    pub uid: String,
    #[serde(rename = "Links", default, deserialize_with = "lenient_list")]
    pub links: Vec<Link>,
    #[serde(rename = "Description", default)]
    pub description: String,
    #[serde(rename = "Port", default)]
    pub port: u16,
    #[serde(rename = "Version", default)]
    pub version: String,
}

fn write_backup_server(w: &mut XmlWriter, s: &BackupServer) {
    w.open(
        "BackupServer",
        &[
            ("Href", Some(&s.href)),
            ("Type", opt(&s.type_)),
            ("Name", Some(&s.name)),
            ("UID", Some(&s.uid)),
        ],
    );
    write_links(w, &s.links);
    w.leaf("Description", &s.description);
    w.leaf("Port", &s.port.to_string());
    w.leaf("Version", &s.version);
    w.close("BackupServer");
}

fn read_backup_server(e: &XElem) -> Result<BackupServer, WireError> {
    Ok(BackupServer {
        href: e.attr("Href").unwrap_or_default().to_string(),
        type_: e.attr("Type").map(str::to_string),
        name: e.req_attr("Name")?.to_string(),
        uid: e.req_attr("UID")?.trim().to_string(),
        links: read_links(e),
        description: e.child_text("Description").unwrap_or_default().to_string(),
        port: e
            .child_text("Port")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_default(),
        version: e.child_text("Version").unwrap_or_default().to_string(),
    })
}

impl Body for BackupServer {
    const ROOT: &'static str = "BackupServer";
    fn write_xml(&self, w: &mut XmlWriter) {
        write_backup_server(w, self);
    }
    fn read_xml(root: &XElem) -> Result<Self, WireError> {
        read_backup_server(root)
    }
}

/// A list of backup server entities.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupServers {
    #[serde(rename = "BackupServers", default, deserialize_with = "lenient_list")]
    pub servers: Vec<BackupServer>,
}

impl Body for BackupServers {
    const ROOT: &'static str = "BackupServers";
    fn write_xml(&self, w: &mut XmlWriter) {
        write_list(w, Self::ROOT, &self.servers, write_backup_server);
    }
    fn read_xml(root: &XElem) -> Result<Self, WireError> {
        Ok(BackupServers {
            servers: read_list(root, "BackupServer", read_backup_server)?,
        })
    }
}

// ---------------------------------------------------------------- public IPs

/// One address of a public IP pool (`CloudPublicIpAddress`, `CloudPublicIp` in lists).
///
/// `tenant_uid` is `None` for an address assigned to no tenant; the element
/// is then left out, as in the vendor's examples.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudPublicIp {
    #[serde(rename = "Href", default)]
    pub href: String,
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "UID", default)]
    pub uid: String,
    #[serde(rename = "BackupServerUid", default)]
    pub backup_server_uid: String,
    #[serde(rename = "Links", default, deserialize_with = "lenient_list")]
    pub links: Vec<Link>,
    #[serde(rename = "IpAddress", default)]
    pub ip_address: String,
    #[serde(rename = "TenantUid", default, skip_serializing_if = "Option::is_none")]
    pub tenant_uid: Option<String>,
}

fn write_public_ip(w: &mut XmlWriter, name: &str, ip: &CloudPublicIp) {
    w.open(
        name,
        &[
            ("Href", Some(&ip.href)),
            ("Type", opt(&ip.type_)),
            ("Name", Some(&ip.name)),
            ("UID", Some(&ip.uid)),
            ("BackupServerUid", Some(&ip.backup_server_uid)),
        ],
    );
    write_links(w, &ip.links);
    w.leaf("IpAddress", &ip.ip_address);
    if let Some(t) = &ip.tenant_uid {
        w.leaf("TenantUid", t);
    }
    w.close(name);
}

fn read_public_ip(e: &XElem) -> Result<CloudPublicIp, WireError> {
    Ok(CloudPublicIp {
        href: e.attr("Href").unwrap_or_default().to_string(),
        type_: e.attr("Type").map(str::to_string),
        name: e.attr("Name").unwrap_or_default().to_string(),
        uid: e.attr("UID").unwrap_or_default().trim().to_string(),
        backup_server_uid: e
            .attr("BackupServerUid")
            .unwrap_or_default()
            .trim()
            .to_string(),
        links: read_links(e),
        ip_address: e.req_child_text("IpAddress")?.to_string(),
        tenant_uid: e
            .child_text("TenantUid")
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
    })
}

impl Body for CloudPublicIp {
    const ROOT: &'static str = "CloudPublicIpAddress";
    const ALSO_ROOT: &'static [&'static str] = &["CloudPublicIp"];
    fn write_xml(&self, w: &mut XmlWriter) {
        write_public_ip(w, Self::ROOT, self);
    }
    fn read_xml(root: &XElem) -> Result<Self, WireError> {
        read_public_ip(root)
    }
}

/// The body of `PUT /api/cloud/publicIpAddresses/{id}`, read strictly: the
/// entity as `GET` returned it (root `CloudPublicIpAddress`; its read-only
/// attributes and `Links` may come back), elements in schema order, each at
/// most once, nothing unknown; in JSON an object with known keys, each once.
pub fn decode_public_ip_edit(bytes: &[u8], wire: Wire) -> Result<CloudPublicIp, WireError> {
    match wire {
        Wire::Xml => {
            let root = super::xml::parse(bytes)?;
            if root.name != CloudPublicIp::ROOT {
                return Err(WireError::Invalid(format!(
                    "expected a <{}> body, found <{}>",
                    CloudPublicIp::ROOT,
                    root.name
                )));
            }
            root.only_attrs(&["Href", "Type", "Name", "UID", "BackupServerUid"])?;
            root.no_mixed_text()?;
            root.children_in_order(&[("Links", false), ("IpAddress", true), ("TenantUid", false)])?;
            for child in &root.children {
                if child.name == "Links" {
                    child.only_attrs(&[])?;
                    child.no_mixed_text()?;
                    for link in &child.children {
                        if link.name != "Link" {
                            return Err(WireError::Invalid(format!(
                                "<Links> has no element <{}>",
                                link.name
                            )));
                        }
                        link.only_attrs(&["Rel", "Href", "Name", "Type"])?;
                        if !link.children.is_empty() || !link.text.trim().is_empty() {
                            return Err(WireError::Invalid("<Link> must be empty".into()));
                        }
                    }
                } else {
                    child.plain_leaf()?;
                }
            }
            read_public_ip(&root)
        }
        Wire::Json => {
            let strict: StrictPublicIp = decode_json(bytes)?;
            Ok(CloudPublicIp {
                href: strict.href,
                type_: strict.type_,
                name: strict.name,
                uid: strict.uid,
                backup_server_uid: strict.backup_server_uid,
                links: strict.links,
                ip_address: strict.ip_address,
                tenant_uid: strict.tenant_uid.filter(|t| !t.trim().is_empty()),
            })
        }
    }
}

/// [`CloudPublicIp`] with unknown and repeated keys refused (serde's derive
/// reports a repeated field), for [`decode_public_ip_edit`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictPublicIp {
    #[serde(rename = "Href", default)]
    href: String,
    #[serde(rename = "Type", default)]
    type_: Option<String>,
    #[serde(rename = "Name", default)]
    name: String,
    #[serde(rename = "UID", default)]
    uid: String,
    #[serde(rename = "BackupServerUid", default)]
    backup_server_uid: String,
    #[serde(rename = "Links", default, deserialize_with = "lenient_list")]
    links: Vec<Link>,
    #[serde(rename = "IpAddress")]
    ip_address: String,
    #[serde(rename = "TenantUid", default)]
    tenant_uid: Option<String>,
}

/// A list of pool addresses (`GET /api/cloud/publicIpAddresses?format=Entity`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudPublicIps {
    #[serde(rename = "CloudPublicIps", default, deserialize_with = "lenient_list")]
    pub items: Vec<CloudPublicIp>,
}

impl Body for CloudPublicIps {
    const ROOT: &'static str = "CloudPublicIpAddresses";
    fn write_xml(&self, w: &mut XmlWriter) {
        write_list(w, Self::ROOT, &self.items, |w, ip| {
            write_public_ip(w, "CloudPublicIp", ip)
        });
    }
    fn read_xml(root: &XElem) -> Result<Self, WireError> {
        Ok(CloudPublicIps {
            items: read_list(root, "CloudPublicIp", read_public_ip)?,
        })
    }
}

/// The body of `POST /api/cloud/publicIpAddresses`: a range to add.
///
/// Read strictly: in XML the three elements must come in this order, each
/// exactly once, with nothing else beside them; in JSON each key exactly
/// once and no other key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudPublicIpAddressCreateSpec {
    #[serde(rename = "BackupServerUid")]
    pub backup_server_uid: String,
    #[serde(rename = "IpAddressLowerBound")]
    pub ip_address_lower_bound: String,
    #[serde(rename = "IpAddressUpperBound")]
    pub ip_address_upper_bound: String,
}

impl Body for CloudPublicIpAddressCreateSpec {
    const ROOT: &'static str = "CloudPublicIpAddressCreateSpec";
    fn write_xml(&self, w: &mut XmlWriter) {
        w.open(Self::ROOT, &[]);
        w.leaf("BackupServerUid", &self.backup_server_uid);
        w.leaf("IpAddressLowerBound", &self.ip_address_lower_bound);
        w.leaf("IpAddressUpperBound", &self.ip_address_upper_bound);
        w.close(Self::ROOT);
    }
    fn read_xml(root: &XElem) -> Result<Self, WireError> {
        const ORDER: [&str; 3] = [
            "BackupServerUid",
            "IpAddressLowerBound",
            "IpAddressUpperBound",
        ];
        let names: Vec<&str> = root.children.iter().map(|c| c.name.as_str()).collect();
        if names != ORDER {
            return Err(WireError::Invalid(format!(
                "<{}> must hold exactly <{}>, <{}>, <{}> in that order, each once; found {}",
                Self::ROOT,
                ORDER[0],
                ORDER[1],
                ORDER[2],
                if names.is_empty() {
                    "no elements".to_string()
                } else {
                    names
                        .iter()
                        .map(|n| format!("<{n}>"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )));
        }
        // Namespace declarations (xmlns, xmlns:xsd, xmlns:xsi as in the
        // vendor's example) are not attributes; the schema defines none.
        root.only_attrs(&[])?;
        root.no_mixed_text()?;
        Ok(CloudPublicIpAddressCreateSpec {
            backup_server_uid: root.children[0].plain_leaf()?.to_string(),
            ip_address_lower_bound: root.children[1].plain_leaf()?.to_string(),
            ip_address_upper_bound: root.children[2].plain_leaf()?.to_string(),
        })
    }
}

// ---------------------------------------------------------------- tasks

/// Where a task stands. Only `Finished` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskState {
    Running,
    OperationFinished,
    Finished,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Running => "Running",
            TaskState::OperationFinished => "OperationFinished",
            TaskState::Finished => "Finished",
        }
    }

    /// Parse the vendor's spelling (case-insensitive).
    pub fn parse(text: &str) -> Option<TaskState> {
        [
            TaskState::Running,
            TaskState::OperationFinished,
            TaskState::Finished,
        ]
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a task ended: `<Result Success="true"><Message>Ok</Message></Result>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskResult {
    #[serde(rename = "Success", default)]
    pub success: bool,
    #[serde(rename = "Message", default)]
    pub message: String,
}

/// An asynchronous operation (`202` answers, `GET /api/tasks/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    #[serde(rename = "Href", default)]
    pub href: String,
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(rename = "Links", default, deserialize_with = "lenient_list")]
    pub links: Vec<Link>,
    #[serde(rename = "TaskId")]
    pub task_id: String,
    #[serde(rename = "State")]
    pub state: TaskState,
    #[serde(rename = "Operation", default)]
    pub operation: String,
    #[serde(rename = "Result", default, skip_serializing_if = "Option::is_none")]
    pub result: Option<TaskResult>,
}

fn write_task(w: &mut XmlWriter, t: &Task) {
    w.open("Task", &[("Href", Some(&t.href)), ("Type", opt(&t.type_))]);
    write_links(w, &t.links);
    w.leaf("TaskId", &t.task_id);
    w.leaf("State", t.state.as_str());
    w.leaf("Operation", &t.operation);
    if let Some(r) = &t.result {
        w.open(
            "Result",
            &[("Success", Some(if r.success { "true" } else { "false" }))],
        );
        w.leaf("Message", &r.message);
        w.close("Result");
    }
    w.close("Task");
}

fn read_task(e: &XElem) -> Result<Task, WireError> {
    let state_text = e.req_child_text("State")?;
    let state = TaskState::parse(state_text)
        .ok_or_else(|| WireError::Invalid(format!("unknown task state '{state_text}'")))?;
    let result = match e.child("Result") {
        Some(r) => {
            let success = r.req_attr("Success")?.trim();
            Some(TaskResult {
                success: match success {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    other => {
                        return Err(WireError::Invalid(format!(
                            "Result/@Success is '{other}', not a boolean"
                        )));
                    }
                },
                message: r.child_text("Message").unwrap_or_default().to_string(),
            })
        }
        None => None,
    };
    Ok(Task {
        href: e.attr("Href").unwrap_or_default().to_string(),
        type_: e.attr("Type").map(str::to_string),
        links: read_links(e),
        task_id: e.req_child_text("TaskId")?.trim().to_string(),
        state,
        operation: e.child_text("Operation").unwrap_or_default().to_string(),
        result,
    })
}

impl Body for Task {
    const ROOT: &'static str = "Task";
    fn write_xml(&self, w: &mut XmlWriter) {
        write_task(w, self);
    }
    fn read_xml(root: &XElem) -> Result<Self, WireError> {
        read_task(root)
    }
}

/// A list of tasks (`GET /api/tasks`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tasks {
    #[serde(rename = "Tasks", default, deserialize_with = "lenient_list")]
    pub tasks: Vec<Task>,
}

impl Body for Tasks {
    const ROOT: &'static str = "Tasks";
    fn write_xml(&self, w: &mut XmlWriter) {
        write_list(w, Self::ROOT, &self.tasks, write_task);
    }
    fn read_xml(root: &XElem) -> Result<Self, WireError> {
        Ok(Tasks {
            tasks: read_list(root, "Task", read_task)?,
        })
    }
}

// ---------------------------------------------------------------- query service

/// Paging of a query answer; follow [`PagingInfo::next_href`] until it is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagingInfo {
    #[serde(rename = "PageNum", default)]
    pub page_num: u32,
    #[serde(rename = "PageSize", default)]
    pub page_size: u32,
    #[serde(rename = "PagesCount", default)]
    pub pages_count: u32,
    #[serde(rename = "Links", default, deserialize_with = "lenient_list")]
    pub links: Vec<Link>,
}

impl PagingInfo {
    /// The `Next` page's address (already unescaped), if there is one.
    pub fn next_href(&self) -> Option<&str> {
        find_link(&self.links, "Next").map(|l| l.href.as_str())
    }
}

/// What a query answered: references, or entities of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryItems {
    /// `QueryResult/Refs/Ref` (no `format=Entities`).
    Refs(Vec<EntityRef>),
    /// `QueryResult/Entities/CloudPublicIps/CloudPublicIp`.
    PublicIps(Vec<CloudPublicIp>),
    /// `QueryResult/Resources/Tasks/Task`.
    Tasks(Vec<Task>),
}

/// The answer of `GET /api/query`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryResult {
    pub items: QueryItems,
    pub links: Vec<Link>,
    pub paging: PagingInfo,
}

impl QueryResult {
    /// The pool addresses of an entities answer (empty for other kinds).
    pub fn public_ips(&self) -> &[CloudPublicIp] {
        match &self.items {
            QueryItems::PublicIps(v) => v,
            _ => &[],
        }
    }
    /// The tasks of a `type=Task&format=Entities` answer (empty for other kinds).
    pub fn tasks(&self) -> &[Task] {
        match &self.items {
            QueryItems::Tasks(v) => v,
            _ => &[],
        }
    }
    /// The references of a references answer (empty for other kinds).
    pub fn refs(&self) -> &[EntityRef] {
        match &self.items {
            QueryItems::Refs(v) => v,
            _ => &[],
        }
    }
    /// How many items this page holds.
    pub fn len(&self) -> usize {
        match &self.items {
            QueryItems::Refs(v) => v.len(),
            QueryItems::PublicIps(v) => v.len(),
            QueryItems::Tasks(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Serialize for QueryResult {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        use std::collections::BTreeMap;
        let mut map = s.serialize_map(None)?;
        match &self.items {
            QueryItems::Refs(refs) => map.serialize_entry("Refs", refs)?,
            QueryItems::PublicIps(ips) => {
                map.serialize_entry("Entities", &BTreeMap::from([("CloudPublicIps", ips)]))?
            }
            QueryItems::Tasks(tasks) => {
                map.serialize_entry("Resources", &BTreeMap::from([("Tasks", tasks)]))?
            }
        }
        if !self.links.is_empty() {
            map.serialize_entry("Links", &self.links)?;
        }
        map.serialize_entry("PagingInfo", &self.paging)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for QueryResult {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut value = Value::deserialize(d)?;
        let obj = value
            .as_object_mut()
            .ok_or_else(|| D::Error::custom("a QueryResult must be a JSON object"))?;
        let take_inner = |v: Value, name: &str| -> Value {
            match v {
                Value::Object(mut m) => m.remove(name).unwrap_or(Value::Null),
                other => other,
            }
        };
        let items = if let Some(refs) = obj.remove("Refs") {
            QueryItems::Refs(list_items(refs, 1).map_err(D::Error::custom)?)
        } else if let Some(ents) = obj.remove("Entities") {
            let inner = take_inner(ents, "CloudPublicIps");
            QueryItems::PublicIps(list_items(inner, 1).map_err(D::Error::custom)?)
        } else if let Some(res) = obj.remove("Resources") {
            let inner = take_inner(res, "Tasks");
            QueryItems::Tasks(list_items(inner, 1).map_err(D::Error::custom)?)
        } else {
            return Err(D::Error::custom(
                "a QueryResult holds none of Refs, Entities, Resources",
            ));
        };
        let links =
            list_items(obj.remove("Links").unwrap_or(Value::Null), 1).map_err(D::Error::custom)?;
        let paging = serde_json::from_value(obj.remove("PagingInfo").unwrap_or(Value::Null))
            .map_err(D::Error::custom)?;
        Ok(QueryResult {
            items,
            links,
            paging,
        })
    }
}

impl Body for QueryResult {
    const ROOT: &'static str = "QueryResult";
    fn write_xml(&self, w: &mut XmlWriter) {
        w.open(Self::ROOT, &[]);
        match &self.items {
            QueryItems::Refs(refs) => write_list(w, "Refs", refs, write_ref),
            QueryItems::PublicIps(ips) => {
                w.open("Entities", &[]);
                write_list(w, "CloudPublicIps", ips, |w, ip| {
                    write_public_ip(w, "CloudPublicIp", ip)
                });
                w.close("Entities");
            }
            QueryItems::Tasks(tasks) => {
                w.open("Resources", &[]);
                write_list(w, "Tasks", tasks, write_task);
                w.close("Resources");
            }
        }
        write_links(w, &self.links);
        let (num, size, count) = (
            self.paging.page_num.to_string(),
            self.paging.page_size.to_string(),
            self.paging.pages_count.to_string(),
        );
        let attrs = [
            ("PageNum", Some(num.as_str())),
            ("PageSize", Some(size.as_str())),
            ("PagesCount", Some(count.as_str())),
        ];
        if self.paging.links.is_empty() {
            w.empty("PagingInfo", &attrs);
        } else {
            w.open("PagingInfo", &attrs);
            write_links(w, &self.paging.links);
            w.close("PagingInfo");
        }
        w.close(Self::ROOT);
    }
    fn read_xml(root: &XElem) -> Result<Self, WireError> {
        let items = if let Some(refs) = root.child("Refs") {
            QueryItems::Refs(refs.children_named("Ref").map(read_ref).collect())
        } else if let Some(ents) = root.child("Entities") {
            let ips = ents
                .child("CloudPublicIps")
                .map(|l| read_list(l, "CloudPublicIp", read_public_ip))
                .transpose()?
                .unwrap_or_default();
            QueryItems::PublicIps(ips)
        } else if let Some(res) = root.child("Resources") {
            let tasks = res
                .child("Tasks")
                .map(|l| read_list(l, "Task", read_task))
                .transpose()?
                .unwrap_or_default();
            QueryItems::Tasks(tasks)
        } else {
            return Err(WireError::Invalid(
                "<QueryResult> holds none of <Refs>, <Entities>, <Resources>".into(),
            ));
        };
        let paging = root
            .child("PagingInfo")
            .ok_or_else(|| WireError::Invalid("<QueryResult> lacks <PagingInfo>".into()))?;
        let num = |name: &str| -> Result<u32, WireError> {
            paging
                .req_attr(name)?
                .trim()
                .parse()
                .map_err(|_| WireError::Invalid(format!("PagingInfo/@{name} is not a number")))
        };
        Ok(QueryResult {
            items,
            links: read_links(root),
            paging: PagingInfo {
                page_num: num("PageNum")?,
                page_size: num("PageSize")?,
                pages_count: num("PagesCount")?,
                links: read_links(paging),
            },
        })
    }
}

// ---------------------------------------------------------------- errors

/// The body of every error reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(rename = "FirstChanceExceptionMessage", default)]
    pub first_chance_exception_message: Option<String>,
    #[serde(rename = "Message", default)]
    pub message: String,
    #[serde(rename = "StackTrace", default)]
    pub stack_trace: Option<String>,
    #[serde(rename = "Status", default)]
    pub status: String,
    #[serde(rename = "StatusCode", default)]
    pub status_code: u16,
}

impl ErrorBody {
    /// An error body for a status code, with the vendor's status name.
    pub fn new(status_code: u16, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            first_chance_exception_message: None,
            message: message.into(),
            stack_trace: None,
            status: status_name(status_code).to_string(),
            status_code,
        }
    }
}

/// The .NET `HttpStatusCode` name the server puts in `Status`.
pub fn status_name(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        415 => "UnsupportedMediaType",
        500 => "InternalServerError",
        501 => "NotImplemented",
        503 => "ServiceUnavailable",
        _ => "Unknown",
    }
}

impl Body for ErrorBody {
    const ROOT: &'static str = "Error";
    fn write_xml(&self, w: &mut XmlWriter) {
        let code = self.status_code.to_string();
        w.open(
            Self::ROOT,
            &[
                ("Message", Some(&self.message)),
                ("StatusCode", Some(&code)),
                ("Status", Some(&self.status)),
            ],
        );
        if let Some(m) = &self.first_chance_exception_message {
            w.leaf("FirstChanceExceptionMessage", m);
        }
        if let Some(s) = &self.stack_trace {
            w.leaf("StackTrace", s);
        }
        w.close(Self::ROOT);
    }
    fn read_xml(root: &XElem) -> Result<Self, WireError> {
        Ok(ErrorBody {
            first_chance_exception_message: root
                .child_text("FirstChanceExceptionMessage")
                .map(str::to_string),
            message: root.attr("Message").unwrap_or_default().to_string(),
            stack_trace: root.child_text("StackTrace").map(str::to_string),
            status: root.attr("Status").unwrap_or_default().to_string(),
            status_code: root
                .attr("StatusCode")
                .and_then(|c| c.trim().parse().ok())
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::wire::{decode, encode};
    use super::*;
    use crate::cli::Wire;

    fn both<T: Body + PartialEq + fmt::Debug>(body: &T) {
        for w in [Wire::Xml, Wire::Json] {
            let bytes = encode(body, w);
            let back: T = decode(&bytes, w)
                .unwrap_or_else(|e| panic!("{w:?}: {e}\n{}", String::from_utf8_lossy(&bytes)));
            assert_eq!(&back, body, "{w:?}");
        }
    }

    fn task() -> Task {
        Task {
            href: "http://h/api/tasks/task-1".into(),
            type_: Some("Task".into()),
            links: vec![Link::new("Delete", "http://h/api/tasks/task-1", "Task")],
            task_id: "task-1".into(),
            state: TaskState::Finished,
            operation: "CreateCloudPublicIpAddress".into(),
            result: Some(TaskResult {
                success: false,
                message: "198.51.100.11 is already in the pool".into(),
            }),
        }
    }

    fn ip(tenant: Option<&str>) -> CloudPublicIp {
        CloudPublicIp {
            href: "http://h/api/cloud/publicIpAddresses/x".into(),
            type_: Some("CloudPublicIpAddress".into()),
            name: "2001:db8::1".into(),
            uid: "urn:veeam:CloudPublicIpAddress:x".into(),
            backup_server_uid: "urn:veeam:BackupServer:y".into(),
            links: vec![],
            ip_address: "2001:db8::1".into(),
            tenant_uid: tenant.map(str::to_string),
        }
    }

    #[test]
    fn every_body_round_trips_in_both_formats() {
        both(&task());
        both(&Tasks {
            tasks: vec![task(), task()],
        });
        both(&ip(None));
        both(&ip(Some("urn:veeam:CloudTenant:z")));
        both(&CloudPublicIps {
            items: vec![ip(None), ip(Some("urn:veeam:CloudTenant:z"))],
        });
        both(&ErrorBody::new(400, "bad & wrong <body>"));
        both(&LogonSession {
            href: "http://h/api/logonSessions/abc".into(),
            type_: Some("LogonSession".into()),
            links: vec![Link::new(
                "Delete",
                "http://h/api/logonSessions/abc",
                "LogonSession",
            )],
            user_name: "admin".into(),
            session_id: "abc".into(),
        });
        both(&EntityReferences {
            refs: vec![EntityRef {
                uid: "urn:veeam:BackupServer:1".into(),
                name: "backup01".into(),
                href: "http://h/api/backupServers/1".into(),
                type_: "BackupServerReference".into(),
                links: vec![],
            }],
        });
        both(&BackupServers {
            servers: vec![BackupServer {
                href: "http://h/api/backupServers/1".into(),
                type_: Some("BackupServer".into()),
                name: "backup01".into(),
                uid: "urn:veeam:BackupServer:1".into(),
                links: vec![],
                description: "d".into(),
                port: 9392,
                version: "13.0.1.1071".into(),
            }],
        });
        both(&EnterpriseManager {
            href: "http://h/api/".into(),
            type_: Some("EnterpriseManager".into()),
            links: vec![Link::new(
                "Create",
                "http://h/api/sessionMngr/?v=latest",
                "LogonSession",
            )],
            supported_versions: vec![SupportedVersion {
                name: "v1_7".into(),
                links: vec![],
            }],
        });
        let paging = PagingInfo {
            page_num: 1,
            page_size: 2,
            pages_count: 3,
            links: vec![Link::new(
                "Next",
                "http://h/api/query?type=Task&page=2",
                "QueryResult",
            )],
        };
        for items in [
            QueryItems::Refs(vec![]),
            QueryItems::PublicIps(vec![ip(None)]),
            QueryItems::Tasks(vec![task()]),
        ] {
            both(&QueryResult {
                items,
                links: vec![],
                paging: paging.clone(),
            });
        }
    }

    #[test]
    fn paging_links_are_unescaped() {
        let xml = r#"<QueryResult xmlns="http://www.veeam.com/ent/v1.0"><Refs/><PagingInfo PageNum="1" PageSize="1" PagesCount="2"><Links><Link Rel="Next" Href="https://h/api/query?type=Task&amp;page=2&#x26;x=&#x2F;" /></Links></PagingInfo></QueryResult>"#;
        let q: QueryResult = decode(xml.as_bytes(), Wire::Xml).unwrap();
        assert_eq!(
            q.paging.next_href(),
            Some("https://h/api/query?type=Task&page=2&x=/")
        );
    }

    #[test]
    fn json_lists_may_be_wrapped_and_unknown_keys_are_ignored() {
        let json = r#"{"Entities":{"CloudPublicIps":{"CloudPublicIps":[{"IpAddress":"1.2.3.4","Extra":1}]}},
                       "PagingInfo":{"PageNum":1,"PageSize":100,"PagesCount":1,"Links":{"Links":[]}}}"#;
        let q: QueryResult = decode(json.as_bytes(), Wire::Json).unwrap();
        assert_eq!(q.public_ips()[0].ip_address, "1.2.3.4");
        let refs = r#"{"Refs":{"Refs":[{"UID":"urn:veeam:BackupServer:1","Name":"b","Href":"h","Type":"BackupServerReference"}]}}"#;
        let r: EntityReferences = decode(refs.as_bytes(), Wire::Json).unwrap();
        assert_eq!(r.refs[0].name, "b");
    }

    #[test]
    fn error_json_matches_the_vendor_shape() {
        let text = String::from_utf8(encode(&ErrorBody::new(400, "x"), Wire::Json)).unwrap();
        assert_eq!(
            text,
            r#"{"FirstChanceExceptionMessage":null,"Message":"x","StackTrace":null,"Status":"BadRequest","StatusCode":400}"#
        );
    }

    #[test]
    fn create_spec_is_read_strictly() {
        let ok = r#"<CloudPublicIpAddressCreateSpec xmlns="http://www.veeam.com/ent/v1.0"><BackupServerUid>u</BackupServerUid><IpAddressLowerBound>a</IpAddressLowerBound><IpAddressUpperBound>b</IpAddressUpperBound></CloudPublicIpAddressCreateSpec>"#;
        assert!(decode::<CloudPublicIpAddressCreateSpec>(ok.as_bytes(), Wire::Xml).is_ok());
        let swapped = ok
            .replace("<IpAddressLowerBound>a</IpAddressLowerBound>", "")
            .replace(
                "</CloudPublicIpAddressCreateSpec>",
                "<IpAddressLowerBound>a</IpAddressLowerBound></CloudPublicIpAddressCreateSpec>",
            );
        assert!(decode::<CloudPublicIpAddressCreateSpec>(swapped.as_bytes(), Wire::Xml).is_err());
        let twice = ok.replace(
            "<IpAddressUpperBound>",
            "<IpAddressUpperBound>b</IpAddressUpperBound><IpAddressUpperBound>",
        );
        assert!(decode::<CloudPublicIpAddressCreateSpec>(twice.as_bytes(), Wire::Xml).is_err());
        let dup = r#"{"BackupServerUid":"u","IpAddressLowerBound":"a","IpAddressLowerBound":"a","IpAddressUpperBound":"b"}"#;
        assert!(decode::<CloudPublicIpAddressCreateSpec>(dup.as_bytes(), Wire::Json).is_err());
        let extra =
            r#"{"BackupServerUid":"u","IpAddressLowerBound":"a","IpAddressUpperBound":"b","X":1}"#;
        assert!(decode::<CloudPublicIpAddressCreateSpec>(extra.as_bytes(), Wire::Json).is_err());
    }
}
