//! Tokens of the query language (MySQL's lexical rules, as Temporal's parser uses them).

use crate::{QueryError, malformed};

/// Temporal parses `select * from table1 where <query>`; syntax error positions count from the
/// start of that statement, so ours add this prefix's length to match.
pub(crate) const PREFIX_LEN: usize = "select * from table1 where ".len();

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// A bare name (keywords are recognised by the parser, case-insensitively).
    Word(String),
    /// A back-quoted name: never a keyword.
    Quoted(String),
    Str(String),
    /// A number as written (the parser decides int or float).
    Num(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    /// Byte offset just past the token in the query.
    pub end: usize,
    pub text: String,
}

pub(crate) fn syntax_error(query: &str, at: Option<&Token>) -> QueryError {
    match at {
        Some(t) => malformed(format_args!(
            "syntax error at position {} near '{}'",
            PREFIX_LEN + t.end + 1,
            t.text
        )),
        None => malformed(format_args!(
            "syntax error at position {}",
            PREFIX_LEN + query.trim_end().len() + 1
        )),
    }
}

pub(crate) fn tokenize(query: &str) -> Result<Vec<Token>, QueryError> {
    let bytes = query.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let tok = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => {
                i += 1;
                Tok::LParen
            }
            b')' => {
                i += 1;
                Tok::RParen
            }
            b',' => {
                i += 1;
                Tok::Comma
            }
            b'=' => {
                i += 1;
                Tok::Op("=")
            }
            b'!' if bytes.get(i + 1) == Some(&b'=') => {
                i += 2;
                Tok::Op("!=")
            }
            b'<' => match bytes.get(i + 1) {
                Some(b'=') => {
                    i += 2;
                    Tok::Op("<=")
                }
                Some(b'>') => {
                    i += 2;
                    Tok::Op("!=")
                }
                _ => {
                    i += 1;
                    Tok::Op("<")
                }
            },
            b'>' => {
                if bytes.get(i + 1) == Some(&b'=') {
                    i += 2;
                    Tok::Op(">=")
                } else {
                    i += 1;
                    Tok::Op(">")
                }
            }
            b'-' | b'+' => {
                i += 1;
                Tok::Op(if c == b'-' { "-" } else { "+" })
            }
            b'\'' | b'"' => {
                let (s, next) = string_literal(query, i).ok_or_else(|| {
                    malformed(format_args!(
                        "syntax error at position {}",
                        PREFIX_LEN + query.len() + 1
                    ))
                })?;
                i = next;
                Tok::Str(s)
            }
            b'`' => {
                let rest = &query[i + 1..];
                let end = rest.find('`').ok_or_else(|| {
                    malformed(format_args!(
                        "syntax error at position {}",
                        PREFIX_LEN + query.len() + 1
                    ))
                })?;
                i += end + 2;
                Tok::Quoted(rest[..end].to_string())
            }
            b'0'..=b'9' | b'.' => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_digit()
                        || bytes[i] == b'.'
                        || ((bytes[i] == b'e' || bytes[i] == b'E')
                            && bytes
                                .get(i + 1)
                                .is_some_and(|n| n.is_ascii_digit() || *n == b'-' || *n == b'+'))
                        || ((bytes[i] == b'-' || bytes[i] == b'+')
                            && (bytes[i - 1] == b'e' || bytes[i - 1] == b'E')))
                {
                    i += 1;
                }
                // A number running into letters (`12abc`) is one bad token.
                if i < bytes.len() && is_word_byte(bytes[i]) {
                    while i < bytes.len() && is_word_byte(bytes[i]) {
                        i += 1;
                    }
                    let t = Token {
                        tok: Tok::Word(query[start..i].to_string()),
                        end: i,
                        text: query[start..i].to_string(),
                    };
                    return Err(syntax_error(query, Some(&t)));
                }
                Tok::Num(query[start..i].to_string())
            }
            c if is_word_byte(c) || c >= 0x80 => {
                while i < bytes.len() && (is_word_byte(bytes[i]) || bytes[i] >= 0x80) {
                    i += 1;
                }
                Tok::Word(query[start..i].to_string())
            }
            _ => {
                let ch = query[i..].chars().next().unwrap_or('?');
                let t = Token {
                    tok: Tok::Op("?"),
                    end: i + ch.len_utf8(),
                    text: ch.to_string(),
                };
                return Err(syntax_error(query, Some(&t)));
            }
        };
        out.push(Token {
            tok,
            end: i,
            text: query[start..i].to_string(),
        });
    }
    Ok(out)
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$'
}

/// A quoted string starting at `start` (its quote); MySQL escapes: a doubled quote or a
/// backslash escape. Returns the value and the offset after the closing quote.
fn string_literal(query: &str, start: usize) -> Option<(String, usize)> {
    let quote = query.as_bytes()[start] as char;
    let mut out = String::new();
    let mut chars = query[start + 1..].char_indices().peekable();
    while let Some((off, c)) = chars.next() {
        if c == quote {
            if chars.peek().map(|(_, n)| *n) == Some(quote) {
                chars.next();
                out.push(quote);
                continue;
            }
            return Some((out, start + 1 + off + 1));
        }
        if c == '\\' {
            let (_, e) = chars.next()?;
            out.push(match e {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                '0' => '\0',
                'b' => '\u{8}',
                'Z' => '\u{1a}',
                other => other,
            });
            continue;
        }
        out.push(c);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(q: &str) -> Vec<Tok> {
        tokenize(q).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn strings_numbers_and_operators() {
        assert_eq!(
            toks("`A b`='x''y' AND c<>-1.5e3"),
            vec![
                Tok::Quoted("A b".into()),
                Tok::Op("="),
                Tok::Str("x'y".into()),
                Tok::Word("AND".into()),
                Tok::Word("c".into()),
                Tok::Op("!="),
                Tok::Op("-"),
                Tok::Num("1.5e3".into()),
            ]
        );
        assert_eq!(toks(r#""a\"b""#), vec![Tok::Str("a\"b".into())]);
    }

    #[test]
    fn bad_input_is_a_syntax_error() {
        for q in ["'open", "`open", "a # b", "12abc = 1"] {
            let e = tokenize(q).unwrap_err();
            assert!(
                e.0.starts_with("malformed SQL query: syntax error"),
                "{q}: {e}"
            );
        }
    }
}
