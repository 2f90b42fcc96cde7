//! Syntax: tokens → [`Query`].

use crate::lexer::{Tok, Token, syntax_error, tokenize};
use crate::{QueryError, invalid_expr, unsupported};

/// A literal as written.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub fn symbol(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Ne => "!=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

/// A boolean expression over named attributes.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare {
        name: String,
        op: Cmp,
        value: Literal,
    },
    In {
        name: String,
        values: Vec<Literal>,
        negated: bool,
    },
    Between {
        name: String,
        low: Literal,
        high: Literal,
        negated: bool,
    },
    StartsWith {
        name: String,
        prefix: Literal,
        negated: bool,
    },
    IsNull {
        name: String,
        negated: bool,
    },
    /// An operator the language parses but no attribute supports (`LIKE`).
    Unsupported {
        name: String,
        op: &'static str,
    },
}

/// A parsed query: the filter and the clauses after it.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Query {
    pub filter: Option<Expr>,
    pub group_by: Vec<String>,
    /// (name, descending)
    pub order_by: Vec<(String, bool)>,
}

/// Words that cannot name an attribute unless back-quoted.
const RESERVED: &[&str] = &[
    "and",
    "or",
    "not",
    "in",
    "between",
    "is",
    "null",
    "true",
    "false",
    "order",
    "group",
    "by",
    "limit",
    "like",
    "select",
    "from",
    "where",
    "having",
    "asc",
    "desc",
    "starts_with",
    "offset",
];

fn is_kw(t: &Token, kw: &str) -> bool {
    matches!(&t.tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
}

struct Parser<'a> {
    query: &'a str,
    toks: Vec<Token>,
    pos: usize,
}

/// Parses a query (possibly empty).
pub fn parse(query: &str) -> Result<Query, QueryError> {
    let toks = tokenize(query)?;
    let mut p = Parser {
        query,
        toks,
        pos: 0,
    };
    let mut out = Query::default();
    if p.peek().is_some() && !p.at_kw("order") && !p.at_kw("group") {
        out.filter = Some(p.or_expr()?);
    }
    if p.at_kw("group") {
        p.pos += 1;
        p.expect_kw("by")?;
        out.group_by.push(p.name()?);
        while p.eat(&Tok::Comma) {
            out.group_by.push(p.name()?);
        }
    }
    if p.at_kw("order") {
        p.pos += 1;
        p.expect_kw("by")?;
        loop {
            let name = p.name()?;
            let desc = if p.at_kw("desc") {
                p.pos += 1;
                true
            } else {
                if p.at_kw("asc") {
                    p.pos += 1;
                }
                false
            };
            out.order_by.push((name, desc));
            if !p.eat(&Tok::Comma) {
                break;
            }
        }
    }
    if p.at_kw("limit") {
        p.pos += 1;
        match p.next() {
            Some(Token {
                tok: Tok::Num(_), ..
            }) => {}
            other => return Err(syntax_error(query, other.as_ref())),
        }
        if p.peek().is_none() {
            return Err(unsupported("'LIMIT' clause"));
        }
    }
    if let Some(t) = p.peek() {
        return Err(syntax_error(query, Some(t)));
    }
    Ok(out)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn at_kw(&self, kw: &str) -> bool {
        self.peek().is_some_and(|t| is_kw(t, kw))
    }
    fn eat(&mut self, tok: &Tok) -> bool {
        if self.peek().is_some_and(|t| &t.tok == tok) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn err_here(&self) -> QueryError {
        syntax_error(self.query, self.peek())
    }
    fn expect_kw(&mut self, kw: &str) -> Result<(), QueryError> {
        if self.at_kw(kw) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err_here())
        }
    }

    /// An attribute name: a non-reserved word or a back-quoted name.
    fn name(&mut self) -> Result<String, QueryError> {
        match self.peek().map(|t| t.tok.clone()) {
            Some(Tok::Quoted(n)) => {
                self.pos += 1;
                Ok(n)
            }
            Some(Tok::Word(w)) if !RESERVED.iter().any(|r| w.eq_ignore_ascii_case(r)) => {
                self.pos += 1;
                Ok(w)
            }
            _ => Err(self.err_here()),
        }
    }

    fn or_expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.and_expr()?;
        while self.at_kw("or") {
            self.pos += 1;
            let right = self.and_expr()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.not_expr()?;
        while self.at_kw("and") {
            self.pos += 1;
            let right = self.not_expr()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not_expr(&mut self) -> Result<Expr, QueryError> {
        if self.at_kw("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not_expr()?)));
        }
        if self.eat(&Tok::LParen) {
            let inner = self.or_expr()?;
            if !self.eat(&Tok::RParen) {
                return Err(self.err_here());
            }
            return Ok(inner);
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Expr, QueryError> {
        let Some(first) = self.peek().cloned() else {
            return Err(self.err_here());
        };
        if matches!(first.tok, Tok::Str(_) | Tok::Num(_)) {
            // `'x' = WorkflowId`: a value where a name belongs.
            self.pos += 1;
            if self.peek().is_some_and(|t| matches!(t.tok, Tok::Op(_))) {
                return Err(invalid_expr(format_args!(
                    "invalid filter name: '{}'",
                    first.text
                )));
            }
            return Err(invalid_expr("incomplete expression"));
        }
        let name = self.name()?;
        let negated = if self.at_kw("not") {
            self.pos += 1;
            true
        } else {
            false
        };
        let Some(t) = self.peek().cloned() else {
            return if negated {
                Err(self.err_here())
            } else {
                Err(invalid_expr("incomplete expression"))
            };
        };
        match &t.tok {
            Tok::Op(op) if !negated => {
                let op = match *op {
                    "=" => Cmp::Eq,
                    "!=" => Cmp::Ne,
                    "<" => Cmp::Lt,
                    "<=" => Cmp::Le,
                    ">" => Cmp::Gt,
                    ">=" => Cmp::Ge,
                    _ => return Err(self.err_here()),
                };
                self.pos += 1;
                let value = self.literal()?;
                Ok(Expr::Compare { name, op, value })
            }
            Tok::Word(_) if is_kw(&t, "in") => {
                self.pos += 1;
                if !self.eat(&Tok::LParen) {
                    return Err(self.err_here());
                }
                let mut values = vec![self.literal()?];
                while self.eat(&Tok::Comma) {
                    values.push(self.literal()?);
                }
                if !self.eat(&Tok::RParen) {
                    return Err(self.err_here());
                }
                Ok(Expr::In {
                    name,
                    values,
                    negated,
                })
            }
            Tok::Word(_) if is_kw(&t, "between") => {
                self.pos += 1;
                let low = self.literal()?;
                self.expect_kw("and")?;
                let high = self.literal()?;
                Ok(Expr::Between {
                    name,
                    low,
                    high,
                    negated,
                })
            }
            Tok::Word(_) if is_kw(&t, "starts_with") => {
                self.pos += 1;
                let prefix = self.literal()?;
                Ok(Expr::StartsWith {
                    name,
                    prefix,
                    negated,
                })
            }
            Tok::Word(_) if is_kw(&t, "like") => {
                self.pos += 1;
                self.literal()?;
                Ok(Expr::Unsupported {
                    name,
                    op: if negated { "NOT LIKE" } else { "LIKE" },
                })
            }
            Tok::Word(_) if is_kw(&t, "is") && !negated => {
                self.pos += 1;
                let not = if self.at_kw("not") {
                    self.pos += 1;
                    true
                } else {
                    false
                };
                if self.at_kw("null") {
                    self.pos += 1;
                    Ok(Expr::IsNull { name, negated: not })
                } else if self.at_kw("true") || self.at_kw("false") {
                    self.pos += 1;
                    Err(invalid_expr(
                        "'IS' operator can only be used with 'NULL' or 'NOT NULL'",
                    ))
                } else {
                    Err(self.err_here())
                }
            }
            Tok::Word(_) | Tok::RParen if !negated => {
                if ["and", "or", "group", "order", "limit"]
                    .iter()
                    .any(|k| is_kw(&t, k))
                    || t.tok == Tok::RParen
                {
                    Err(invalid_expr("incomplete expression"))
                } else {
                    Err(self.err_here())
                }
            }
            _ => Err(self.err_here()),
        }
    }

    fn literal(&mut self) -> Result<Literal, QueryError> {
        let Some(t) = self.next() else {
            return Err(syntax_error(self.query, None));
        };
        match &t.tok {
            Tok::Str(s) => Ok(Literal::Str(s.clone())),
            Tok::Num(n) => number(n, false).ok_or_else(|| syntax_error(self.query, Some(&t))),
            Tok::Op(sign @ ("-" | "+")) => match self.next() {
                Some(Token {
                    tok: Tok::Num(n), ..
                }) => number(&n, *sign == "-").ok_or_else(|| syntax_error(self.query, Some(&t))),
                other => Err(syntax_error(self.query, other.as_ref())),
            },
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => {
                Err(invalid_expr("'NULL' is not a valid value; use IS NULL"))
            }
            Tok::Word(w) | Tok::Quoted(w)
                if !RESERVED.iter().any(|r| w.eq_ignore_ascii_case(r))
                    || matches!(t.tok, Tok::Quoted(_)) =>
            {
                Err(unsupported(format_args!(
                    "column name on the right side of comparison expression (did you forget to quote \"{w}\"?)"
                )))
            }
            _ => Err(syntax_error(self.query, Some(&t))),
        }
    }
}

fn number(text: &str, negative: bool) -> Option<Literal> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(Literal::Int(if negative { -i } else { i }));
    }
    let f: f64 = text.parse().ok()?;
    Some(Literal::Float(if negative { -f } else { f }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(name: &str, value: Literal) -> Expr {
        Expr::Compare {
            name: name.into(),
            op: Cmp::Eq,
            value,
        }
    }

    #[test]
    fn precedence_and_parentheses() {
        let q = parse("a = 1 OR b = 'x' AND NOT c = true").unwrap();
        assert_eq!(
            q.filter.unwrap(),
            Expr::Or(
                Box::new(cmp("a", Literal::Int(1))),
                Box::new(Expr::And(
                    Box::new(cmp("b", Literal::Str("x".into()))),
                    Box::new(Expr::Not(Box::new(cmp("c", Literal::Bool(true)))))
                ))
            )
        );
        let q = parse("(a = 1 or b = 2) and c = -2.5").unwrap();
        assert!(matches!(q.filter, Some(Expr::And(..))));
    }

    #[test]
    fn clauses() {
        let q = parse("order by StartTime desc").unwrap();
        assert_eq!(q.order_by, vec![("StartTime".into(), true)]);
        let q = parse("x in ('a','b') group by ExecutionStatus").unwrap();
        assert_eq!(q.group_by, vec!["ExecutionStatus".to_string()]);
        assert!(parse("").unwrap().filter.is_none());
        let q = parse("a not between 1 and 2 and b is not null and c not starts_with 'p'").unwrap();
        assert!(matches!(q.filter, Some(Expr::And(..))));
    }

    #[test]
    fn errors() {
        let e = |q: &str| parse(q).unwrap_err().0;
        assert_eq!(e("WorkflowId"), "invalid expression: incomplete expression");
        assert!(e("WorkflowId = ").starts_with("malformed SQL query: syntax error at position 40"));
        assert_eq!(
            e("a = 1 limit 3"),
            "operation is not supported: 'LIMIT' clause"
        );
        assert_eq!(
            e("WorkflowId = WorkflowType"),
            "operation is not supported: column name on the right side of comparison expression (did you forget to quote \"WorkflowType\"?)"
        );
        assert!(e("a = 1 and").starts_with("malformed SQL query"));
        assert!(e("(a = 1").starts_with("malformed SQL query"));
        assert!(e("a = 1)").starts_with("malformed SQL query"));
    }
}
