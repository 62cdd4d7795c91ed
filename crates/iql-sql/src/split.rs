//! Statement boundaries, found with sqlparser's tokenizer so that `;` inside strings and comments
//! does not split.

use sqlparser::dialect::SQLiteDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::error::SqlError;

/// The text of one statement. `padded` is the whole script with everything outside this statement
/// blanked (newlines kept), so parser positions are positions in the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementText {
    /// The statement as written, without its `;`.
    pub text: String,
    pub padded: String,
    /// 1-based line and column where the statement starts.
    pub line: u64,
    pub column: u64,
}

impl StatementText {
    /// The line and column just after the statement's last character: where "the statement ended
    /// too soon" is reported.
    pub fn end(&self) -> (u64, u64) {
        match self.text.rsplit_once('\n') {
            Some((head, last)) => (
                self.line + head.matches('\n').count() as u64 + 1,
                last.chars().count() as u64 + 1,
            ),
            None => (self.line, self.column + self.text.chars().count() as u64),
        }
    }
}

pub fn split_statements(script: &str) -> Result<Vec<StatementText>, SqlError> {
    let dialect = SQLiteDialect {};
    let tokens = Tokenizer::new(&dialect, script)
        .tokenize_with_location()
        .map_err(|e| SqlError::from_parser(&e.to_string(), (1, 1)))?;
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(script.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let offset = |line: u64, column: u64| -> usize {
        let start = line_starts
            .get((line.max(1) - 1) as usize)
            .copied()
            .unwrap_or(script.len());
        // Columns count characters, not bytes.
        script[start..]
            .char_indices()
            .nth((column.max(1) - 1) as usize)
            .map(|(i, _)| start + i)
            .unwrap_or(script.len())
    };
    let mut out = Vec::new();
    let mut first: Option<(u64, u64)> = None;
    let mut last_end = 0usize;
    let push = |first: &mut Option<(u64, u64)>, end: usize, out: &mut Vec<StatementText>| {
        if let Some((line, column)) = first.take() {
            let start = offset(line, column);
            let padded: String = script
                .char_indices()
                .map(|(i, c)| {
                    if (start..end).contains(&i) || c == '\n' {
                        c
                    } else {
                        ' '
                    }
                })
                .collect();
            out.push(StatementText {
                text: script[start..end].trim_end().to_string(),
                padded,
                line,
                column,
            });
        }
    };
    for t in &tokens {
        match &t.token {
            Token::SemiColon => push(&mut first, last_end, &mut out),
            Token::Whitespace(_) => {}
            _ => {
                if first.is_none() {
                    first = Some((t.span.start.line, t.span.start.column));
                }
                last_end = offset(t.span.end.line, t.span.end.column);
            }
        }
    }
    push(&mut first, last_end, &mut out);
    Ok(out)
}

/// Whether `text` ends a statement: its last token outside strings and comments is `;`. A REPL
/// keeps reading lines until it does (an unterminated string or comment is never complete).
pub fn is_complete(text: &str) -> bool {
    let dialect = SQLiteDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, text).tokenize() else {
        return false;
    };
    if let Some(Token::Whitespace(sqlparser::tokenizer::Whitespace::MultiLineComment(_))) =
        tokens.last()
    {
        // sqlparser accepts a comment left open at the end of the text; a person typing has not finished it.
        if !text.trim_end().ends_with("*/") {
            return false;
        }
    }
    tokens
        .iter()
        .rev()
        .find(|t| !matches!(t, Token::Whitespace(_)))
        .is_some_and(|t| *t == Token::SemiColon)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completeness_for_the_repl() {
        assert!(is_complete("SELECT 1;"));
        assert!(is_complete("SELECT 1;  -- done\n"));
        assert!(is_complete("SELECT 1\nFROM t\nWHERE a = 'x;y';"));
        assert!(!is_complete("SELECT 1"));
        assert!(!is_complete("SELECT ';"));
        assert!(!is_complete("SELECT 1 -- ;"));
        assert!(!is_complete("SELECT 1 /* ; "));
        assert!(!is_complete("SELECT 1 /* ; */"));
        assert!(is_complete("SELECT 1 /* x */;"));
        assert!(!is_complete(""));
    }

    #[test]
    fn splits_outside_quotes_and_comments() {
        let s = split_statements("SELECT ';' AS a; /* ; */ SELECT 2 -- x;\n;\n\n").unwrap();
        let texts: Vec<_> = s.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["SELECT ';' AS a", "SELECT 2"]);
        assert_eq!((s[1].line, s[1].column), (1, 26));
    }

    #[test]
    fn a_semicolon_in_a_trailing_comment_still_ends_the_script() {
        let s = split_statements("SELECT 1\nFROM t\nWHERE a = 'b' -- required;").unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].line, 1);
        assert!(s[0].padded.starts_with("SELECT 1\nFROM t"));
    }

    #[test]
    fn padding_keeps_positions() {
        let s = split_statements("SELECT 1;\n  SELECT 2").unwrap();
        assert_eq!((s[1].line, s[1].column), (2, 3));
        assert_eq!(s[1].padded, "         \n  SELECT 2");
    }
}
