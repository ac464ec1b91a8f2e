//! The XML half of the wire format: a small writer that emits elements in the
//! schema's order, and a namespace-checking reader that turns a body into a
//! tree of [`XElem`] for the body types to pick apart.
//!
//! Hand-written rather than serde-driven: quick-xml's serde mapping spells
//! attributes as `@Name`, which would leak into the JSON shape of the same
//! types, and the simulator needs a reader strict enough to reject elements in
//! the wrong order or repeated (see `CloudPublicIpAddressCreateSpec`).

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use super::wire::WireError;

/// The vendor namespace every element of every body lives in.
pub const NAMESPACE: &str = "http://www.veeam.com/ent/v1.0";

/// Builds one XML document. The first element opened is the root and carries
/// the namespace declaration. Attributes whose value is `None` are left out.
#[derive(Debug)]
pub struct XmlWriter {
    buf: String,
    root_open: bool,
}

impl Default for XmlWriter {
    fn default() -> Self {
        XmlWriter::new()
    }
}

impl XmlWriter {
    pub fn new() -> XmlWriter {
        XmlWriter {
            buf: String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>"),
            root_open: false,
        }
    }

    fn start_tag(&mut self, name: &str, attrs: &[(&str, Option<&str>)]) {
        self.buf.push('<');
        self.buf.push_str(name);
        if !self.root_open {
            self.root_open = true;
            self.buf.push_str(" xmlns=\"");
            self.buf.push_str(NAMESPACE);
            self.buf.push('"');
        }
        for (key, value) in attrs {
            if let Some(value) = value {
                self.buf.push(' ');
                self.buf.push_str(key);
                self.buf.push_str("=\"");
                push_escaped(&mut self.buf, value, true);
                self.buf.push('"');
            }
        }
    }

    /// `<name attrs...>`
    pub fn open(&mut self, name: &str, attrs: &[(&str, Option<&str>)]) {
        self.start_tag(name, attrs);
        self.buf.push('>');
    }

    /// `<name attrs... />`
    pub fn empty(&mut self, name: &str, attrs: &[(&str, Option<&str>)]) {
        self.start_tag(name, attrs);
        self.buf.push_str(" />");
    }

    /// `<name>text</name>`
    pub fn leaf(&mut self, name: &str, text: &str) {
        self.start_tag(name, &[]);
        self.buf.push('>');
        push_escaped(&mut self.buf, text, false);
        self.close(name);
    }

    /// `</name>`
    pub fn close(&mut self, name: &str) {
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
    }

    /// The finished document.
    pub fn finish(self) -> String {
        self.buf
    }
}

/// Append `text` escaped for XML 1.0. Characters XML 1.0 cannot carry at all
/// (control characters other than tab, newline and carriage return, U+FFFE,
/// U+FFFF), which a request may smuggle into an error message, become U+FFFD
/// so the document stays well-formed. In attribute values tab, newline and
/// carriage return are written as character references, else a parser would
/// normalize them to spaces; in text a carriage return is, for the same reason.
fn push_escaped(buf: &mut String, text: &str, attribute: bool) {
    for ch in text.chars() {
        match ch {
            '<' => buf.push_str("&lt;"),
            '>' => buf.push_str("&gt;"),
            '&' => buf.push_str("&amp;"),
            '"' => buf.push_str("&quot;"),
            '\'' => buf.push_str("&apos;"),
            '\r' => buf.push_str("&#13;"),
            '\t' if attribute => buf.push_str("&#9;"),
            '\n' if attribute => buf.push_str("&#10;"),
            '\t' | '\n' => buf.push(ch),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => buf.push('\u{fffd}'),
            _ => buf.push(ch),
        }
    }
}

/// One element of a parsed body: local name, attributes (namespace
/// declarations dropped, prefixed ones kept under their qualified name such
/// as `xsi:foo`, so strict readers can refuse them), child elements and
/// text, all unescaped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XElem {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<XElem>,
    pub text: String,
}

impl XElem {
    /// The value of an attribute.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of an attribute the schema requires.
    pub fn req_attr(&self, name: &str) -> Result<&str, WireError> {
        self.attr(name).ok_or_else(|| {
            WireError::Invalid(format!("<{}> lacks its {name} attribute", self.name))
        })
    }

    /// Strict readers: refuse any attribute not in `allowed`.
    pub fn only_attrs(&self, allowed: &[&str]) -> Result<(), WireError> {
        match self
            .attrs
            .iter()
            .find(|(k, _)| !allowed.contains(&k.as_str()))
        {
            None => Ok(()),
            Some((k, _)) if allowed.is_empty() => Err(WireError::Invalid(format!(
                "<{}> takes no attributes; found {k}",
                self.name
            ))),
            Some((k, _)) => Err(WireError::Invalid(format!(
                "<{}> has no attribute {k} (allowed: {})",
                self.name,
                allowed.join(", ")
            ))),
        }
    }

    /// Strict readers: refuse text beside child elements (whitespace aside).
    pub fn no_mixed_text(&self) -> Result<(), WireError> {
        if self.children.is_empty() || self.text.trim().is_empty() {
            Ok(())
        } else {
            Err(WireError::Invalid(format!(
                "<{}> holds text {:?} between its elements",
                self.name,
                self.text.trim()
            )))
        }
    }

    /// Strict readers: a leaf element, text only, no attributes.
    pub fn plain_leaf(&self) -> Result<&str, WireError> {
        if !self.children.is_empty() {
            return Err(WireError::Invalid(format!(
                "<{}> must hold text only",
                self.name
            )));
        }
        self.only_attrs(&[])?;
        Ok(&self.text)
    }

    /// Strict readers: the child elements follow `order` (schema order), each
    /// at most once, those marked required present, nothing else.
    pub fn children_in_order(&self, order: &[(&str, bool)]) -> Result<(), WireError> {
        let mut next = 0;
        for child in &self.children {
            let Some(at) = order[next..].iter().position(|(n, _)| *n == child.name) else {
                let known = order.iter().any(|(n, _)| *n == child.name);
                return Err(WireError::Invalid(if known {
                    format!(
                        "<{}> is repeated or out of order in <{}> (schema order: {})",
                        child.name,
                        self.name,
                        order
                            .iter()
                            .map(|(n, _)| format!("<{n}>"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                } else {
                    format!("<{}> has no element <{}>", self.name, child.name)
                }));
            };
            if let Some((missing, _)) = order[next..next + at].iter().find(|(_, req)| *req) {
                return Err(WireError::Invalid(format!(
                    "<{}> lacks its <{missing}> element before <{}>",
                    self.name, child.name
                )));
            }
            next += at + 1;
        }
        if let Some((missing, _)) = order[next..].iter().find(|(_, req)| *req) {
            return Err(WireError::Invalid(format!(
                "<{}> lacks its <{missing}> element",
                self.name
            )));
        }
        Ok(())
    }

    /// The first child element of that name.
    pub fn child(&self, name: &str) -> Option<&XElem> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child element of that name, in document order.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a XElem> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of a child element.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// The text of a child element the schema requires.
    pub fn req_child_text(&self, name: &str) -> Result<&str, WireError> {
        self.child_text(name).ok_or_else(|| {
            WireError::Invalid(format!("<{}> lacks its <{name}> element", self.name))
        })
    }
}

/// Parse a document into its root element. Every element must be in the
/// vendor namespace (the real server's serializer rejects anything else).
pub fn parse(bytes: &[u8]) -> Result<XElem, WireError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| WireError::Syntax(format!("the body is not UTF-8: {e}")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = NsReader::from_str(text);
    let mut stack: Vec<XElem> = Vec::new();
    let mut root: Option<XElem> = None;
    let syntax = |e: quick_xml::Error, pos: u64| {
        WireError::Syntax(format!("malformed XML at byte {pos}: {e}"))
    };
    loop {
        let pos = reader.buffer_position();
        let (ns, event) = reader.read_resolved_event().map_err(|e| syntax(e, pos))?;
        match event {
            Event::Start(start) => {
                let elem = open_elem(&ns, &start, pos, root.is_some())?;
                stack.push(elem);
            }
            Event::Empty(start) => {
                let elem = open_elem(&ns, &start, pos, root.is_some())?;
                close_into(&mut stack, &mut root, elem);
            }
            Event::End(_) => {
                let elem = stack
                    .pop()
                    .ok_or_else(|| WireError::Syntax("unbalanced end tag".into()))?;
                close_into(&mut stack, &mut root, elem);
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err(WireError::Syntax("text outside the root element".into())),
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&c.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| syntax(e, pos))? {
                    Some(ch) => ch.to_string(),
                    None => match r.xml10_content().as_ref() {
                        "amp" => "&".into(),
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "quot" => "\"".into(),
                        "apos" => "'".into(),
                        other => {
                            return Err(WireError::Syntax(format!("unknown entity &{other};")));
                        }
                    },
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(WireError::Syntax(
            "the document ends inside an element".into(),
        ));
    }
    root.ok_or_else(|| WireError::Syntax("the body holds no XML element".into()))
}

/// An element from its start tag: namespace checked, attributes unescaped.
fn open_elem(
    ns: &ResolveResult<'_>,
    start: &BytesStart<'_>,
    pos: u64,
    after_root: bool,
) -> Result<XElem, WireError> {
    let local = start.local_name().as_ref().to_string();
    match ns {
        ResolveResult::Bound(n) if n.as_ref() == NAMESPACE => {}
        _ => {
            return Err(WireError::Invalid(format!(
                "element <{local}> is not in the namespace {NAMESPACE}"
            )));
        }
    }
    if after_root {
        return Err(WireError::Syntax("content after the root element".into()));
    }
    let mut elem = XElem {
        name: local,
        ..XElem::default()
    };
    for attr in start.attributes() {
        let attr = attr
            .map_err(|e| WireError::Syntax(format!("malformed attribute near byte {pos}: {e}")))?;
        let key = attr.key;
        let is_declaration =
            key.as_ref() == "xmlns" || key.prefix().is_some_and(|p| p.as_ref() == "xmlns");
        // Schema-location hints are allowed on any element by XML Schema
        // itself (xmllint accepts them), so a strict reader must not refuse them.
        let is_location_hint = matches!(
            key.as_ref(),
            "xsi:schemaLocation" | "xsi:noNamespaceSchemaLocation"
        );
        if is_declaration || is_location_hint {
            continue;
        }
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| WireError::Syntax(format!("malformed attribute near byte {pos}: {e}")))?;
        elem.attrs
            .push((key.as_ref().to_string(), value.into_owned()));
    }
    Ok(elem)
}

fn close_into(stack: &mut [XElem], root: &mut Option<XElem>, elem: XElem) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(elem),
        None => *root = Some(elem),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_elements_attributes_and_entities() {
        let doc = r#"<?xml version="1.0"?><A xmlns="http://www.veeam.com/ent/v1.0" X="a&amp;b"><B/><C>t&#x2F;u &lt;</C></A>"#;
        let root = parse(doc.as_bytes()).unwrap();
        assert_eq!(root.name, "A");
        assert_eq!(root.attr("X"), Some("a&b"));
        assert_eq!(root.children.len(), 2);
        assert_eq!(root.child("B").unwrap().children.len(), 0);
        assert_eq!(root.child_text("C"), Some("t/u <"));
    }

    #[test]
    fn rejects_wrong_namespace_and_garbage() {
        assert!(parse(b"<A><B/></A>").is_err());
        assert!(parse(br#"<A xmlns="urn:other"/>"#).is_err());
        assert!(parse(b"not xml").is_err());
        assert!(parse(br#"<A xmlns="http://www.veeam.com/ent/v1.0"><B></A>"#).is_err());
    }

    #[test]
    fn writer_escapes_and_declares_namespace_once() {
        let mut w = XmlWriter::new();
        w.open("A", &[("H", Some("x?a=1&b=\"2\"")), ("N", None)]);
        w.leaf("B", "<&>");
        w.empty("C", &[]);
        w.close("A");
        let s = w.finish();
        assert_eq!(s.matches("xmlns=").count(), 1);
        let root = parse(s.as_bytes()).unwrap();
        assert_eq!(root.attr("H"), Some("x?a=1&b=\"2\""));
        assert_eq!(root.attr("N"), None);
        assert_eq!(root.child_text("B"), Some("<&>"));
    }

    #[test]
    fn writer_keeps_documents_well_formed_and_whitespace_intact() {
        let mut w = XmlWriter::new();
        w.open("A", &[("M", Some("a\u{1}b\tc\nd\re\u{ffff}"))]);
        w.leaf("B", "x\u{0}y\tz\n\r");
        w.close("A");
        let s = w.finish();
        let root = parse(s.as_bytes()).expect(&s);
        assert_eq!(root.attr("M"), Some("a\u{fffd}b\tc\nd\re\u{fffd}"));
        assert_eq!(root.child_text("B"), Some("x\u{fffd}y\tz\n\r"));
    }
}
