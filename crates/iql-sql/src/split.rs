//! Statement boundaries, found with sqlparser's tokenizer so that `;` inside strings and comments
//! does not split.

use crate::dialect::IqlDialect;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::error::SqlError;

/// The text of one statement. `padded` is the statement preceded by blank lines and spaces up to
/// where it starts, so parser positions are positions in the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementText {
    /// The statement as written, without its `;`.
    pub text: String,
    pub padded: String,
    /// 1-based line and column where the statement starts.
    pub line: u64,
    pub column: u64,
    /// An upper bound of how deep its syntax tree is (`limits::check`).
    pub depth: usize,
    /// Its tokens (comments and whitespace included), positioned in the script: the statement
    /// is tokenized once, when the script is split.
    pub(crate) tokens: Vec<TokenWithSpan>,
    /// The provider a two-part table name (`compute.images`) belongs to: the database a
    /// PostgreSQL client connected to, when it names a provider ([`crate::parse_script_for`]).
    pub default_provider: Option<String>,
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
    let dialect = IqlDialect::default();
    let tokens = Tokenizer::new(&dialect, script)
        .tokenize_with_location()
        .map_err(|e| SqlError::from_parser(&e.to_string(), (1, 1)))?;
    // Token positions come in order, so one cursor walks the script once to turn them into byte
    // offsets (columns count characters, not bytes).
    let mut cursor = Cursor {
        script,
        line: 1,
        column: 1,
        byte: 0,
    };
    let mut out = Vec::new();
    // (line, column, byte offset) of the current statement's first token.
    let mut first: Option<(u64, u64, usize)> = None;
    let mut last_end = 0usize;
    let mut from_token = 0usize;
    let push = |first: &mut Option<(u64, u64, usize)>,
                end: usize,
                own: &[TokenWithSpan],
                out: &mut Vec<StatementText>|
     -> Result<(), SqlError> {
        if let Some((line, column, start)) = first.take() {
            let depth = crate::limits::check(own)?;
            let text = script[start..end].trim_end();
            // The statement at its place in the script: the lines before it empty, its first
            // line indented to its column.
            let mut padded = String::with_capacity(text.len() + (line + column) as usize);
            padded.extend(std::iter::repeat_n('\n', (line - 1) as usize));
            padded.extend(std::iter::repeat_n(' ', (column - 1) as usize));
            padded.push_str(text);
            out.push(StatementText {
                text: text.to_string(),
                padded,
                line,
                column,
                depth,
                tokens: own.to_vec(),
                default_provider: None,
            });
        }
        Ok(())
    };
    for (i, t) in tokens.iter().enumerate() {
        match &t.token {
            Token::SemiColon => {
                push(&mut first, last_end, &tokens[from_token..i], &mut out)?;
                from_token = i + 1;
            }
            Token::Whitespace(_) => {}
            _ => {
                if first.is_none() {
                    let (line, column) = (t.span.start.line, t.span.start.column);
                    first = Some((line, column, cursor.advance_to(line, column)));
                }
                last_end = cursor.advance_to(t.span.end.line, t.span.end.column);
            }
        }
    }
    push(&mut first, last_end, &tokens[from_token..], &mut out)?;
    Ok(out)
}

/// A position in a script that only moves forward: line and column (in characters) to byte offset.
struct Cursor<'a> {
    script: &'a str,
    line: u64,
    column: u64,
    byte: usize,
}

impl Cursor<'_> {
    /// The byte offset of (`line`, `column`), at or after the cursor; the end of the script when
    /// it lies beyond.
    fn advance_to(&mut self, line: u64, column: u64) -> usize {
        while (self.line, self.column) < (line, column) {
            let Some(c) = self.script[self.byte..].chars().next() else {
                break;
            };
            self.byte += c.len_utf8();
            if c == '\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
        }
        self.byte
    }
}

/// Whether `text` ends a statement: its last token outside strings and comments is `;`. A REPL
/// keeps reading lines until it does (an unterminated string or comment is never complete).
pub fn is_complete(text: &str) -> bool {
    let dialect = IqlDialect::default();
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
        assert_eq!(s[1].padded, "\n  SELECT 2");
    }
}

/// What a piece of text is, for colouring it (the shell's highlighting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenClass {
    Keyword,
    String,
    Number,
    Other,
}

/// `line` cut into tokens with their class; the pieces joined give `line` back exactly (each
/// piece is the text from its token's start to the next one's). `None` when it does not tokenize
/// (an unclosed string, being typed).
pub fn classify_tokens(line: &str) -> Option<Vec<(String, TokenClass)>> {
    use sqlparser::keywords::Keyword;
    let tokens = Tokenizer::new(&IqlDialect::default(), line)
        .tokenize_with_location()
        .ok()?;
    // Byte offset of each (line, column), walking the text once.
    let mut starts = Vec::with_capacity(tokens.len());
    let (mut l, mut c, mut byte) = (1u64, 1u64, 0usize);
    let mut chars = line.char_indices().peekable();
    for t in &tokens {
        let want = (t.span.start.line, t.span.start.column);
        while (l, c) < want {
            let Some((_, ch)) = chars.next() else {
                break;
            };
            byte += ch.len_utf8();
            if ch == '\n' {
                l += 1;
                c = 1;
            } else {
                c += 1;
            }
        }
        starts.push(byte);
    }
    let mut pieces = Vec::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        if matches!(t.token, Token::EOF) {
            continue;
        }
        let end = starts
            .get(i + 1)
            .copied()
            .unwrap_or(line.len())
            .min(line.len());
        let text = line.get(starts[i]..end)?.to_string();
        let class = match &t.token {
            Token::Word(w) if w.keyword != Keyword::NoKeyword && w.quote_style.is_none() => {
                TokenClass::Keyword
            }
            Token::SingleQuotedString(_) => TokenClass::String,
            Token::Number(..) => TokenClass::Number,
            _ => TokenClass::Other,
        };
        pieces.push((text, class));
    }
    let joined: String = pieces.iter().map(|(t, _)| t.as_str()).collect();
    (joined == line).then_some(pieces)
}
