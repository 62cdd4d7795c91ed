/// A statement iql cannot parse, with the position in the script the user wrote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error at line {line}, column {column}: {message}")]
pub struct SqlError {
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl SqlError {
    pub(crate) fn new(line: u64, column: u64, message: impl Into<String>) -> Self {
        SqlError {
            line,
            column,
            message: message.into(),
        }
    }

    /// A parser error in `source`: at the position sqlparser gives, or, when the statement ended
    /// too soon ("found: EOF", which sqlparser does not place), just after its last character.
    pub(crate) fn in_statement(message: &str, source: &crate::split::StatementText) -> Self {
        let err = Self::from_parser(message, (source.line, source.column));
        if message.contains("found: EOF") && !message.contains(" at Line: ") {
            let (line, column) = source.end();
            let message = err
                .message
                .replace("found: EOF", "found the end of the statement");
            return SqlError::new(line, column, message);
        }
        err
    }

    /// Reads sqlparser's "… at Line: L, Column: C" into a positioned error.
    pub(crate) fn from_parser(message: &str, fallback: (u64, u64)) -> Self {
        let message = message
            .trim_start_matches("sql parser error: ")
            .trim_start_matches("sql tokenizer error: ");
        if let Some(idx) = message.rfind(" at Line: ") {
            let (text, pos) = message.split_at(idx);
            let mut nums = pos
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty())
                .filter_map(|s| s.parse::<u64>().ok());
            if let (Some(line), Some(column)) = (nums.next(), nums.next()) {
                return SqlError::new(line, column, text.trim());
            }
        }
        SqlError::new(fallback.0, fallback.1, message)
    }
}
