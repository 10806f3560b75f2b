//! One sorcery object as name=value pairs, the unit both the `pjsip.conf`
//! reader (`conf.rs`) and the trunk builder (`sorcery.rs`) work with.
use crate::hosts::text::Redacted;
use std::fmt;

/// One sorcery object as name=value pairs: what
/// `ast_sorcery_objectset_create()` returns, plus the object's id
/// (`ast_sorcery_object_get_id()`, the section name) and type. `Debug`
/// never shows a password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ObjectSet {
    /// The object id (section name).
    pub id: String,
    /// The object type (`registration`, `auth`, `transport`...).
    pub kind: String,
    /// The fields, in order; a key may repeat (`outbound_auth` does in an
    /// object set, one entry per auth).
    pub fields: Vec<(String, String)>,
}

impl fmt::Debug for ObjectSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectSet")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("fields", &Redacted(&self.fields))
            .finish()
    }
}

impl ObjectSet {
    /// An object set. When `kind` is empty, the last `type` field gives it.
    pub fn new<K: AsRef<str>, V: AsRef<str>>(
        id: &str,
        kind: &str,
        fields: impl IntoIterator<Item = (K, V)>,
    ) -> ObjectSet {
        let fields: Vec<(String, String)> = fields
            .into_iter()
            .map(|(k, v)| (k.as_ref().trim().to_owned(), v.as_ref().to_owned()))
            .collect();
        let mut set = ObjectSet {
            id: id.to_owned(),
            kind: kind.trim().to_owned(),
            fields,
        };
        if set.kind.is_empty() {
            set.kind = set.get("type").unwrap_or("").trim().to_owned();
        }
        set
    }

    /// The last value of `key` (later values override earlier ones, as in
    /// a configuration file).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}
