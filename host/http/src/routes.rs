//! Where each method lives in the HTTP API: read from the `google.api.http` option of every
//! method of the two services (and its additional bindings), never written out by hand. A
//! route is a verb, a path template whose variables name request fields (`{namespace}`,
//! `{execution.workflow_id}`), and what the body holds.

use http::Method;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value};

/// The services whose methods are served.
pub const SERVICES: &[&str] = &[
    "temporal.api.workflowservice.v1.WorkflowService",
    "temporal.api.operatorservice.v1.OperatorService",
];

/// One piece of a path template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// A variable: the request field it fills, as proto field names from the top.
    Field(Vec<String>),
}

/// What the body of a call holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// Nothing: the request comes from the path and the query string.
    None,
    /// The whole request (`body: "*"`); the query string is not read.
    Whole,
    /// One field of the request; the query string fills the others.
    Field(String),
}

/// One HTTP binding of a method.
#[derive(Clone, Debug)]
pub struct Route {
    pub verb: Method,
    segments: Vec<Segment>,
    pub body: Body,
    pub method: MethodDescriptor,
    /// The gRPC path of the method, e.g.
    /// `/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution`.
    pub grpc_path: String,
    /// The template as written in the protos, e.g. `/namespaces/{namespace}/workflows`.
    pub template: String,
}

/// A path variable as found in a request: the field path and the text.
pub type Binding = (Vec<String>, String);

/// Why no route answers a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    /// No template matches the path.
    NotFound,
    /// A template matches, but for other verbs.
    WrongVerb,
}

/// Every route of the services, in the order the protos declare them.
#[derive(Debug)]
pub struct Routes {
    routes: Vec<Route>,
}

impl Routes {
    /// The routes of [`SERVICES`] in `pool`, which must keep the methods' options.
    pub fn from_pool(pool: &DescriptorPool) -> Result<Routes, String> {
        let http = pool
            .get_extension_by_name("google.api.http")
            .ok_or("the descriptor set has no google.api.http extension")?;
        let mut routes = Vec::new();
        for name in SERVICES {
            let service = pool
                .get_service_by_name(name)
                .ok_or_else(|| format!("{name} is not in the descriptor set"))?;
            for method in service.methods() {
                let options = method.options();
                if !options.has_extension(&http) {
                    continue;
                }
                let rule = options.get_extension(&http);
                let Value::Message(rule) = rule.as_ref() else {
                    return Err(format!("{}: google.api.http is not a rule", method.name()));
                };
                add_rule(&mut routes, &method, rule)?;
                if let Some(Value::List(more)) = rule
                    .get_field_by_name("additional_bindings")
                    .map(|v| v.into_owned())
                {
                    for extra in more {
                        if let Value::Message(extra) = extra {
                            add_rule(&mut routes, &method, &extra)?;
                        }
                    }
                }
            }
        }
        Ok(Routes { routes })
    }

    #[cfg(test)]
    fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }

    /// The route for `verb` and `path` (the path as sent, percent-encoded, without the query)
    /// with its variables. Where templates of the same length both match, the one with more
    /// literal segments wins. A segment that decodes to a `/` matches nothing, as in Temporal.
    pub fn find(&self, verb: &Method, path: &str) -> Result<(&Route, Vec<Binding>), Miss> {
        let Some(parts) = split(path) else {
            return Err(Miss::NotFound);
        };
        let mut best: Option<(&Route, Vec<Binding>, usize)> = None;
        let mut path_known = false;
        for route in &self.routes {
            let Some(bindings) = matches(&route.segments, &parts) else {
                continue;
            };
            path_known = true;
            if route.verb != *verb {
                continue;
            }
            let literals = route.segments.len() - bindings.len();
            if best.as_ref().is_none_or(|(_, _, l)| literals > *l) {
                best = Some((route, bindings, literals));
            }
        }
        match best {
            Some((route, bindings, _)) => Ok((route, bindings)),
            None if path_known => Err(Miss::WrongVerb),
            None => Err(Miss::NotFound),
        }
    }
}

fn add_rule(
    routes: &mut Vec<Route>,
    method: &MethodDescriptor,
    rule: &DynamicMessage,
) -> Result<(), String> {
    let text = |name: &str| match rule.get_field_by_name(name).as_deref() {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let (verb, template) = [
        ("get", Method::GET),
        ("post", Method::POST),
        ("put", Method::PUT),
        ("delete", Method::DELETE),
        ("patch", Method::PATCH),
    ]
    .into_iter()
    .find_map(|(name, verb)| text(name).map(|t| (verb, t)))
    .ok_or_else(|| format!("{}: an HTTP rule without a verb", method.name()))?;
    let body = match text("body").as_deref() {
        None => Body::None,
        Some("*") => Body::Whole,
        Some(field) => Body::Field(field.to_string()),
    };
    let segments = parse_template(&template)
        .map_err(|e| format!("{}: template {template}: {e}", method.name()))?;
    for segment in &segments {
        if let Segment::Field(path) = segment {
            check_field_path(method, path)
                .map_err(|e| format!("{}: template {template}: {e}", method.name()))?;
        }
    }
    routes.push(Route {
        verb,
        segments,
        body,
        method: method.clone(),
        grpc_path: format!("/{}/{}", method.parent_service().full_name(), method.name()),
        template,
    });
    Ok(())
}

/// `/a/{b.c}/d` as segments; only whole-segment variables without a sub-template are used by
/// the Temporal protos, and anything else is refused rather than served wrong.
fn parse_template(template: &str) -> Result<Vec<Segment>, String> {
    let rest = template
        .strip_prefix('/')
        .ok_or("a template starts with /")?;
    rest.split('/')
        .map(|part| {
            if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                if inner.contains(['=', '*', '{', '}']) || inner.is_empty() {
                    return Err(format!("unsupported variable {part}"));
                }
                Ok(Segment::Field(
                    inner.split('.').map(str::to_string).collect(),
                ))
            } else if part.contains(['{', '}', '*', ':']) || part.is_empty() {
                Err(format!("unsupported segment {part:?}"))
            } else {
                Ok(Segment::Literal(part.to_string()))
            }
        })
        .collect()
}

/// Every name of a variable's path is a singular field, the last one a scalar.
fn check_field_path(method: &MethodDescriptor, path: &[String]) -> Result<(), String> {
    let mut message = method.input();
    for (i, name) in path.iter().enumerate() {
        let field = message
            .get_field_by_name(name)
            .ok_or_else(|| format!("{} has no field {name}", message.full_name()))?;
        if field.is_list() || field.is_map() {
            return Err(format!("{name} is repeated"));
        }
        match field.kind() {
            prost_reflect::Kind::Message(m) if i + 1 < path.len() => message = m,
            prost_reflect::Kind::Message(_) => return Err(format!("{name} is a message")),
            _ if i + 1 < path.len() => return Err(format!("{name} is not a message")),
            _ => {}
        }
    }
    Ok(())
}

/// The path's segments, percent-decoded; `None` when one does not decode to UTF-8 text or
/// holds a `/`.
fn split(path: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix('/')?;
    rest.split('/')
        .map(|part| {
            let text = percent_encoding::percent_decode_str(part)
                .decode_utf8()
                .ok()?
                .into_owned();
            (!text.contains('/')).then_some(text)
        })
        .collect()
}

fn matches(segments: &[Segment], parts: &[String]) -> Option<Vec<Binding>> {
    if segments.len() != parts.len() {
        return None;
    }
    let mut bindings = Vec::new();
    for (segment, part) in segments.iter().zip(parts) {
        match segment {
            Segment::Literal(l) if l == part => {}
            Segment::Literal(_) => return None,
            Segment::Field(_) if part.is_empty() => return None,
            Segment::Field(path) => bindings.push((path.clone(), part.clone())),
        }
    }
    Some(bindings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptors::POOL;

    fn routes() -> Routes {
        Routes::from_pool(&POOL).unwrap()
    }

    #[test]
    fn every_method_with_a_binding_has_both_path_forms() {
        let routes = routes();
        let mut methods = std::collections::BTreeMap::<String, Vec<String>>::new();
        for r in routes.iter() {
            methods
                .entry(r.grpc_path.clone())
                .or_default()
                .push(r.template.clone());
        }
        assert!(methods.len() > 80, "{} methods", methods.len());
        for (method, templates) in &methods {
            let api = templates
                .iter()
                .filter(|t| t.starts_with("/api/v1/"))
                .count();
            assert_eq!(api * 2, templates.len(), "{method}: {templates:?}");
        }
        let start =
            &methods["/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution"];
        assert!(
            start.contains(&"/namespaces/{namespace}/workflows/{workflow_id}".to_string()),
            "{start:?}"
        );
    }

    #[test]
    fn paths_find_their_method_and_variables() {
        let routes = routes();
        let (route, vars) = routes
            .find(
                &Method::GET,
                "/api/v1/namespaces/default/workflows/my%20wf/history",
            )
            .unwrap();
        assert_eq!(route.method.name(), "GetWorkflowExecutionHistory");
        assert_eq!(
            vars,
            vec![
                (vec!["namespace".to_string()], "default".to_string()),
                (
                    vec!["execution".to_string(), "workflow_id".to_string()],
                    "my wf".to_string()
                ),
            ]
        );
        assert_eq!(route.body, Body::None);
        let (route, _) = routes
            .find(&Method::POST, "/namespaces/default/workflows/w/signal/go")
            .unwrap();
        assert_eq!(route.method.name(), "SignalWorkflowExecution");
        assert_eq!(route.body, Body::Whole);
        // A literal beats a variable at the same place.
        let (route, _) = routes
            .find(&Method::GET, "/api/v1/namespaces/default/workflow-count")
            .unwrap();
        assert_eq!(route.method.name(), "CountWorkflowExecutions");
    }

    #[test]
    fn unknown_paths_and_verbs_are_told_apart() {
        let routes = routes();
        assert_eq!(
            routes
                .find(&Method::GET, "/api/v1/nothing/here")
                .unwrap_err(),
            Miss::NotFound
        );
        assert_eq!(
            routes
                .find(&Method::PUT, "/api/v1/namespaces/default/workflows")
                .unwrap_err(),
            Miss::WrongVerb
        );
        // An encoded slash inside a segment is not a way into another route.
        assert_eq!(
            routes
                .find(&Method::GET, "/api/v1/namespaces/a%2Fb/workflows")
                .unwrap_err(),
            Miss::NotFound
        );
        assert_eq!(
            routes
                .find(&Method::GET, "/api/v1/namespaces//workflows")
                .unwrap_err(),
            Miss::NotFound
        );
    }

    #[test]
    fn templates_outside_the_supported_form_are_refused() {
        assert!(parse_template("/a/{b=**}").is_err());
        assert!(parse_template("/a/b:verb").is_err());
        assert!(parse_template("a/b").is_err());
        assert_eq!(
            parse_template("/a/{b.c}").unwrap(),
            vec![
                Segment::Literal("a".into()),
                Segment::Field(vec!["b".into(), "c".into()])
            ]
        );
    }
}
