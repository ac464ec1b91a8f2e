//! The query service's filter language.
//!
//! `field OP value` with `OP` one of `==` `!=` `<` `>` `<=` `>=`; `;` is AND,
//! `,` is OR, and AND binds tighter (FIQL, which the vendor's syntax follows:
//! `a;b,c` is `(a AND b) OR c`); parentheses group. Values are double-quoted
//! strings (`\"` and `\\` escape) or bare words up to the next `;` `,` `)`.
//!
//! Comparison (assumed where the vendor is silent): text compares
//! case-insensitively; address fields compare numerically when the value is an
//! address of the same family; `<`/`>` on text compare the lower-cased text;
//! `TaskId` compares by task number (`task-9` < `task-10`), as it sorts; an
//! absent value (an unassigned address's tenant) is the empty text, so
//! `CloudTenantUid==""` finds the unassigned addresses.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::range::{Family, parse_address};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Cmp {
        field: String,
        op: Op,
        value: String,
    },
}

/// A field's value on one record.
#[derive(Debug, Clone)]
pub enum Val<'a> {
    Text(Cow<'a, str>),
    Addr(Family, u128),
    /// A task id's number: `task-7` compares and sorts as 7, so a filter
    /// `TaskId<"task-10"` agrees with `sortAsc=TaskId`.
    TaskNo(u64),
    /// The record has no value for the field (an unassigned address's tenant).
    Absent,
}

/// Three-valued result of evaluating with only some fields known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tri {
    True,
    False,
    Unknown,
}

impl Expr {
    /// Evaluate with every field known.
    pub fn eval<'a>(&self, get: &dyn Fn(&str) -> Val<'a>) -> bool {
        match self {
            Expr::Or(v) => v.iter().any(|e| e.eval(get)),
            Expr::And(v) => v.iter().all(|e| e.eval(get)),
            Expr::Cmp { field, op, value } => compare(&get(field), *op, value),
        }
    }

    /// Evaluate with some fields known (`get` answers `None` for the others).
    pub fn eval_partial<'a>(&self, get: &dyn Fn(&str) -> Option<Val<'a>>) -> Tri {
        match self {
            Expr::Or(v) => {
                let mut unknown = false;
                for e in v {
                    match e.eval_partial(get) {
                        Tri::True => return Tri::True,
                        Tri::Unknown => unknown = true,
                        Tri::False => {}
                    }
                }
                if unknown { Tri::Unknown } else { Tri::False }
            }
            Expr::And(v) => {
                let mut unknown = false;
                for e in v {
                    match e.eval_partial(get) {
                        Tri::False => return Tri::False,
                        Tri::Unknown => unknown = true,
                        Tri::True => {}
                    }
                }
                if unknown { Tri::Unknown } else { Tri::True }
            }
            Expr::Cmp { field, op, value } => match get(field) {
                Some(v) => {
                    if compare(&v, *op, value) {
                        Tri::True
                    } else {
                        Tri::False
                    }
                }
                None => Tri::Unknown,
            },
        }
    }
}

fn ordering_ok(ord: Ordering, op: Op) -> bool {
    match op {
        Op::Eq => ord == Ordering::Equal,
        Op::Ne => ord != Ordering::Equal,
        Op::Lt => ord == Ordering::Less,
        Op::Gt => ord == Ordering::Greater,
        Op::Le => ord != Ordering::Greater,
        Op::Ge => ord != Ordering::Less,
    }
}

/// The number of a task id `task-N` (prefix in any case).
pub fn task_number(id: &str) -> Option<u64> {
    let prefix = id.get(..5)?;
    if !prefix.eq_ignore_ascii_case("task-") {
        return None;
    }
    id[5..].parse().ok()
}

fn compare(actual: &Val<'_>, op: Op, wanted: &str) -> bool {
    match actual {
        // An absent value is the empty text: `CloudTenantUid==""` matches an
        // unassigned address just as `CloudTenantUid!="x"` does.
        Val::Absent => compare(&Val::Text(Cow::Borrowed("")), op, wanted),
        Val::TaskNo(n) => match task_number(wanted) {
            Some(w) => ordering_ok(n.cmp(&w), op),
            None => op == Op::Ne,
        },
        Val::Addr(family, addr) => match parse_address(wanted) {
            Ok((f, v)) if f == *family => ordering_ok(addr.cmp(&v), op),
            Ok((f, _)) => match op {
                Op::Eq => false,
                Op::Ne => true,
                _ => ordering_ok(family.cmp(&f), op),
            },
            Err(_) => match op {
                Op::Eq => false,
                Op::Ne => true,
                _ => false,
            },
        },
        Val::Text(text) => {
            let ord = if text.eq_ignore_ascii_case(wanted) {
                Ordering::Equal
            } else {
                text.to_ascii_lowercase().cmp(&wanted.to_ascii_lowercase())
            };
            ordering_ok(ord, op)
        }
    }
}

/// Compare two field values for sorting (absent sorts first).
pub fn sort_cmp(a: &Val<'_>, b: &Val<'_>) -> Ordering {
    match (a, b) {
        (Val::Absent, Val::Absent) => Ordering::Equal,
        (Val::Absent, _) => Ordering::Less,
        (_, Val::Absent) => Ordering::Greater,
        (Val::Addr(fa, va), Val::Addr(fb, vb)) => (fa, va).cmp(&(fb, vb)),
        (Val::Text(x), Val::Text(y)) => x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase()),
        (Val::TaskNo(x), Val::TaskNo(y)) => x.cmp(y),
        // Mixed kinds do not occur within one field; order them by kind.
        _ => kind(a).cmp(&kind(b)),
    }
}

fn kind(v: &Val<'_>) -> u8 {
    match v {
        Val::Absent => 0,
        Val::Addr(..) => 1,
        Val::TaskNo(_) => 2,
        Val::Text(_) => 3,
    }
}

/// Parse a filter. The error names the offending position.
pub fn parse(text: &str) -> Result<Expr, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    let e = p.or()?;
    p.ws();
    if p.i < p.s.len() {
        return Err(p.err("expected ';', ',' or the end of the filter"));
    }
    Ok(e)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> String {
        format!(
            "bad filter at character {}: {what} (filter: {})",
            self.i + 1,
            self.text
        )
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.and()?];
        while self.peek() == Some(b',') {
            self.i += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Expr::Or(Vec::new()))
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.atom()?];
        while self.peek() == Some(b';') {
            self.i += 1;
            items.push(self.atom()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Expr::And(Vec::new()))
        } else {
            Expr::And(items)
        })
    }

    fn atom(&mut self) -> Result<Expr, String> {
        if self.peek() == Some(b'(') {
            self.i += 1;
            let e = self.or()?;
            if self.peek() != Some(b')') {
                return Err(self.err("expected ')'"));
            }
            self.i += 1;
            return Ok(e);
        }
        self.ws();
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
        {
            self.i += 1;
        }
        if self.i == start {
            return Err(self.err("expected a field name"));
        }
        let field = self.text[start..self.i].to_string();
        self.ws();
        let rest = &self.s[self.i..];
        let (op, len) = if rest.starts_with(b"==") {
            (Op::Eq, 2)
        } else if rest.starts_with(b"!=") {
            (Op::Ne, 2)
        } else if rest.starts_with(b"<=") {
            (Op::Le, 2)
        } else if rest.starts_with(b">=") {
            (Op::Ge, 2)
        } else if rest.starts_with(b"<") {
            (Op::Lt, 1)
        } else if rest.starts_with(b">") {
            (Op::Gt, 1)
        } else {
            return Err(self.err("expected one of == != < > <= >="));
        };
        self.i += len;
        self.ws();
        let value = if self.s.get(self.i) == Some(&b'"') {
            self.i += 1;
            let mut out = String::new();
            loop {
                let Some(&c) = self.s.get(self.i) else {
                    return Err(self.err("unterminated quoted value"));
                };
                match c {
                    b'"' => {
                        self.i += 1;
                        break;
                    }
                    b'\\' if matches!(self.s.get(self.i + 1), Some(b'"') | Some(b'\\')) => {
                        out.push(self.s[self.i + 1] as char);
                        self.i += 2;
                    }
                    _ => {
                        // Copy one UTF-8 character.
                        let ch = self.text[self.i..].chars().next().unwrap_or('\0');
                        out.push(ch);
                        self.i += ch.len_utf8();
                    }
                }
            }
            out
        } else {
            let start = self.i;
            while self.i < self.s.len() && !matches!(self.s[self.i], b';' | b',' | b')') {
                self.i += 1;
            }
            let v = self.text[start..self.i].trim();
            if v.is_empty() {
                return Err(self.err("expected a value"));
            }
            v.to_string()
        };
        Ok(Expr::Cmp { field, op, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(f: &str, op: Op, v: &str) -> Expr {
        Expr::Cmp {
            field: f.into(),
            op,
            value: v.into(),
        }
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_group() {
        assert_eq!(
            parse(r#"A=="1";B!=2,C==3"#).unwrap(),
            Expr::Or(vec![
                Expr::And(vec![cmp("A", Op::Eq, "1"), cmp("B", Op::Ne, "2")]),
                cmp("C", Op::Eq, "3"),
            ])
        );
        assert_eq!(
            parse(r#"A=="1";(B<=2,C>"x;y")"#).unwrap(),
            Expr::And(vec![
                cmp("A", Op::Eq, "1"),
                Expr::Or(vec![cmp("B", Op::Le, "2"), cmp("C", Op::Gt, "x;y")]),
            ])
        );
    }

    #[test]
    fn bad_filters_are_refused_with_a_position() {
        for bad in ["", "A", "A=", "A==\"x", "(A==1", "A==1)", "A~1", "A==1;"] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("character"), "{bad}: {err}");
        }
    }

    #[test]
    fn comparisons() {
        let e = parse(r#"IpAddress>="198.51.100.9";IpAddress<198.51.100.11"#).unwrap();
        let at = |v: u128| move |_: &str| Val::Addr(Family::V4, v);
        assert!(!e.eval(&at(0xC6336408)));
        assert!(e.eval(&at(0xC6336409)));
        assert!(e.eval(&at(0xC633640A)));
        assert!(!e.eval(&at(0xC633640B)));
        let t = parse(r#"Name=="BACKUP01""#).unwrap();
        assert!(t.eval(&|_| Val::Text("backup01".into())));
        let absent = parse(r#"CloudTenantUid!="x""#).unwrap();
        assert!(absent.eval(&|_| Val::Absent));
        let partial = parse(r#"BackupServerName=="a";Name=="1.2.3.4""#).unwrap();
        let known = |f: &str| (f == "BackupServerName").then(|| Val::Text("b".into()));
        assert_eq!(partial.eval_partial(&known), Tri::False);
        let known_a = |f: &str| (f == "BackupServerName").then(|| Val::Text("a".into()));
        assert_eq!(partial.eval_partial(&known_a), Tri::Unknown);
    }
}
