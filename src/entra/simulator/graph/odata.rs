//! A small OData `$filter` parser and evaluator for the users collection: `eq`/`ne`,
//! `and`/`or`/`not`, parentheses, `startswith(...)`/`endswith(...)`, string literals with
//! `''` escaping, `true`/`false`/`null`.
use serde_json::Value;

/// A literal on the right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Bool(bool),
    Null,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Cmp { prop: String, negate: bool, value: Lit },
    StartsWith { prop: String, value: String },
    EndsWith { prop: String, value: String },
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

impl Expr {
    /// Uses `endswith` anywhere (an "advanced query").
    pub fn uses_endswith(&self) -> bool {
        match self {
            Expr::EndsWith { .. } => true,
            Expr::And(a, b) | Expr::Or(a, b) => a.uses_endswith() || b.uses_endswith(),
            Expr::Not(a) => a.uses_endswith(),
            _ => false,
        }
    }

    /// Every property the filter mentions.
    pub fn properties(&self) -> Vec<&str> {
        match self {
            Expr::Cmp { prop, .. } | Expr::StartsWith { prop, .. } | Expr::EndsWith { prop, .. } => vec![prop.as_str()],
            Expr::And(a, b) | Expr::Or(a, b) => {
                let mut v = a.properties();
                v.extend(b.properties());
                v
            }
            Expr::Not(a) => a.properties(),
        }
    }

    /// Evaluate against an object; string comparisons ignore case, as the directory does.
    pub fn eval(&self, obj: &Value) -> bool {
        let get = |p: &str| obj.as_object().and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(p)).map(|(_, v)| v.clone()));
        match self {
            Expr::Cmp { prop, negate, value } => {
                let v = get(prop).unwrap_or(Value::Null);
                let eq = match (value, &v) {
                    (Lit::Str(s), Value::String(x)) => s.to_lowercase() == x.to_lowercase(),
                    (Lit::Bool(b), Value::Bool(x)) => b == x,
                    (Lit::Null, Value::Null) => true,
                    _ => false,
                };
                eq != *negate
            }
            Expr::StartsWith { prop, value } => get(prop).and_then(|v| v.as_str().map(|s| s.to_lowercase().starts_with(&value.to_lowercase()))).unwrap_or(false),
            Expr::EndsWith { prop, value } => get(prop).and_then(|v| v.as_str().map(|s| s.to_lowercase().ends_with(&value.to_lowercase()))).unwrap_or(false),
            Expr::And(a, b) => a.eval(obj) && b.eval(obj),
            Expr::Or(a, b) => a.eval(obj) || b.eval(obj),
            Expr::Not(a) => !a.eval(obj),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    LParen,
    RParen,
    Comma,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Tok::LParen);
            }
            ')' => {
                chars.next();
                out.push(Tok::RParen);
            }
            ',' => {
                chars.next();
                out.push(Tok::Comma);
            }
            '\'' => {
                chars.next();
                let mut lit = String::new();
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            lit.push('\'');
                        }
                        Some('\'') => break,
                        Some(ch) => lit.push(ch),
                        None => return Err("unterminated string literal (quotes inside literals are written as '')".into()),
                    }
                }
                out.push(Tok::Str(lit));
            }
            c if c.is_alphanumeric() || c == '_' || c == '/' || c == '.' || c == '-' => {
                let mut id = String::new();
                while let Some(&ch) = chars.peek() {
                    if ch.is_alphanumeric() || ch == '_' || ch == '/' || ch == '.' || ch == '-' {
                        id.push(ch);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Tok::Ident(id));
            }
            other => return Err(format!("unexpected character '{other}'")),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(i)) if i.eq_ignore_ascii_case(kw))
    }
    fn expect(&mut self, t: Tok, what: &str) -> Result<(), String> {
        if self.next() == Some(t) { Ok(()) } else { Err(format!("expected {what}")) }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.or()?;
            self.expect(Tok::RParen, "')'")?;
            return Ok(e);
        }
        let Some(Tok::Ident(name)) = self.next() else { return Err("expected a property name or function".into()) };
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let Some(Tok::Ident(prop)) = self.next() else { return Err(format!("{name}() needs a property name first")) };
            self.expect(Tok::Comma, "','")?;
            let Some(Tok::Str(value)) = self.next() else { return Err(format!("{name}() needs a string literal second")) };
            self.expect(Tok::RParen, "')'")?;
            return match name.to_ascii_lowercase().as_str() {
                "startswith" => Ok(Expr::StartsWith { prop, value }),
                "endswith" => Ok(Expr::EndsWith { prop, value }),
                other => Err(format!("function '{other}' is not supported")),
            };
        }
        let negate = match self.next() {
            Some(Tok::Ident(op)) if op.eq_ignore_ascii_case("eq") => false,
            Some(Tok::Ident(op)) if op.eq_ignore_ascii_case("ne") => true,
            _ => return Err(format!("expected 'eq' or 'ne' after '{name}'")),
        };
        let value = match self.next() {
            Some(Tok::Str(s)) => Lit::Str(s),
            Some(Tok::Ident(i)) if i == "true" => Lit::Bool(true),
            Some(Tok::Ident(i)) if i == "false" => Lit::Bool(false),
            Some(Tok::Ident(i)) if i == "null" => Lit::Null,
            _ => return Err(format!("expected a literal after '{name}'; strings are quoted with '")),
        };
        Ok(Expr::Cmp { prop: name, negate, value })
    }
}

/// Parse a `$filter` value.
pub fn parse(s: &str) -> Result<Expr, String> {
    let mut p = Parser { toks: lex(s)?, pos: 0 };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err("unexpected text after the end of the expression".into());
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quotes_are_doubled_and_compare_ignores_case() {
        let e = parse("userPrincipalName eq 'Conor.O''Brien@contoso.test'").unwrap();
        assert!(e.eval(&json!({"userPrincipalName": "conor.o'brien@contoso.test"})));
        assert!(!e.eval(&json!({"userPrincipalName": "conor@contoso.test"})));
    }

    #[test]
    fn boolean_structure_and_functions() {
        let e = parse("(mail eq 'a@x' or startswith(displayName,'Bo')) and not accountEnabled eq false").unwrap();
        assert!(e.eval(&json!({"mail": "b@x", "displayName": "Bob", "accountEnabled": true})));
        assert!(!e.eval(&json!({"mail": "b@x", "displayName": "Al", "accountEnabled": true})));
        assert!(parse("endswith(mail,'@x')").unwrap().uses_endswith());
        assert!(parse("mail eq 'unterminated").is_err());
        assert!(parse("mail gt 'a'").is_err());
    }
}
