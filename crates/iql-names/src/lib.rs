//! How a name is spelt in SQL that SQLite runs: the words it reserves, and a column or parameter
//! name written so a statement reaches it. One list for every place that quotes a name (the
//! query rewrite that quotes reserved column names, the hints, reference pages and errors that
//! show a name), so what iql tells a user to write is what it accepts.

/// Words SQLite does not take as a bare column name (`SELECT default FROM t` is a syntax error):
/// its reserved keywords, found by trying each of SQL's keywords as a column in SQLite 3.
pub const SQLITE_RESERVED: &[&str] = &[
    "add",
    "all",
    "alter",
    "and",
    "as",
    "autoincrement",
    "between",
    "case",
    "cast",
    "check",
    "collate",
    "commit",
    "constraint",
    "create",
    "default",
    "deferrable",
    "delete",
    "distinct",
    "drop",
    "else",
    "escape",
    "except",
    "exists",
    "foreign",
    "from",
    "group",
    "having",
    "in",
    "index",
    "insert",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "limit",
    "not",
    "nothing",
    "notnull",
    "null",
    "on",
    "or",
    "order",
    "primary",
    "raise",
    "references",
    "returning",
    "select",
    "set",
    "table",
    "then",
    "to",
    "transaction",
    "union",
    "unique",
    "update",
    "using",
    "values",
    "when",
    "where",
];

/// A name as a statement must write it: as is when it is a plain lower-case word, else
/// double-quoted (`"default"`, `"X-Dangerous"`, `"enterprise-team"`, `"Name"`: PostgreSQL
/// folds bare names to lower case, so a name with capitals is only reached quoted).
pub fn written_name(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain && !SQLITE_RESERVED.contains(&name) {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

#[cfg(test)]
mod tests {
    use super::written_name;

    #[test]
    fn names_that_are_keywords_or_not_plain_are_quoted() {
        assert_eq!(written_name("status"), "status");
        assert_eq!(written_name("image_id"), "image_id");
        assert_eq!(written_name("default"), "\"default\"");
        assert_eq!(written_name("order"), "\"order\"");
        assert_eq!(written_name("X-Dangerous"), "\"X-Dangerous\"");
        assert_eq!(written_name("enterprise-team"), "\"enterprise-team\"");
        assert_eq!(written_name("1st"), "\"1st\"");
        assert_eq!(written_name("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn the_list_holds_what_either_earlier_list_missed() {
        // The query rewrite's list lacked the first three, the hints' list the last.
        for word in ["cast", "nothing", "raise", "isnull"] {
            assert!(super::SQLITE_RESERVED.contains(&word), "{word}");
            assert_eq!(written_name(word), format!("\"{word}\""));
        }
    }
}
