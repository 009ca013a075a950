//! `x-kubernetes-validations` rules, evaluated with the `cel` crate where it can, so a person
//! learns about a broken rule at the form instead of from a failed apply minutes later.
//!
//! A rule is *checked* when it compiles and calls only functions this evaluator implements the
//! way Kubernetes does (the CEL standard library, macros, the string and list extensions
//! listed in [`SUPPORTED`], and the Kubernetes lists, regex, URL and quantity libraries of
//! [`super::cel_kubernetes`]). Anything else — the `ip`, `cidr`, `format` and `semver`
//! libraries, transition rules on `oldSelf` — is shown as a note: the cluster will check it.
//! As in Kubernetes, a rule that errors (for example on a missing key) fails.

use std::sync::{Arc, LazyLock};

use app::catalog::{FieldError, pointer_child};
use cel::{Context, Env, Program};
use serde_json::Value;

/// Functions and macros the evaluator implements as Kubernetes does. Each is exercised by a
/// unit test below.
const SUPPORTED: &[&str] = &[
    "size",
    "has",
    "all",
    "exists",
    "exists_one",
    "map",
    "filter",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "int",
    "uint",
    "double",
    "string",
    "bool",
    "lowerAscii",
    "upperAscii",
    "trim",
    "split",
    "join",
    "replace",
    "indexOf",
    "lastIndexOf",
    "substring",
];

static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    env.add_extension(cel::extensions::strings)
        .expect("the strings extension registers once");
    env.add_extension(cel::extensions::lists)
        .expect("the lists extension registers once");
    env.add_extension(super::cel_kubernetes::declare)
        .expect("the Kubernetes list overloads register once");
    Arc::new(env)
});

/// Whether the portal evaluates this rule (see the module documentation).
pub fn can_check(rule: &str) -> bool {
    compile(rule).is_some()
}

fn compile(rule: &str) -> Option<Program> {
    let program = ENV.compile(rule).ok()?;
    let references = program.references();
    if references.has_variable("oldSelf") {
        return None;
    }
    let functions = references.functions();
    functions.iter().all(|f| supported(f)).then_some(program)
}

fn supported(name: &str) -> bool {
    is_operator(name)
        || SUPPORTED.contains(&name)
        || super::cel_kubernetes::FUNCTIONS.contains(&name)
}

/// A context over the environment with the Kubernetes libraries.
fn context() -> Context<'static, 'static> {
    let mut context = Context::with_env(ENV.clone());
    super::cel_kubernetes::register(&mut context);
    context
}

/// Operators appear among a program's functions under names like `_&&_`, `!_`, `-_`,
/// `@in`: anything not starting with a letter.
fn is_operator(name: &str) -> bool {
    !name.starts_with(|c: char| c.is_ascii_alphabetic())
}

/// Evaluates one rule with `self` bound to `value` (typed by `schema`): `Ok(true)` passes,
/// `Ok(false)` fails, `Err` is an evaluation error (which fails the rule, as in Kubernetes).
/// `None`: not checked.
pub fn evaluate(rule: &str, schema: &Value, value: &Value) -> Option<Result<bool, String>> {
    let program = compile(rule)?;
    if let Err(reason) = within_cost_limit(&program, &[value]) {
        return Some(Err(reason));
    }
    let mut context = context();
    context.add_variable_from_value("self", typed(schema, value));
    Some(match program.execute(&context) {
        Ok(cel::Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("the rule returned {other:?}, not a boolean")),
        Err(error) => Err(error.to_string()),
    })
}

/// Compiles a rule over named variables (a policy's), refusing one that calls a function this
/// evaluator does not implement: a policy is enforced here or not loaded, never skipped.
pub fn compile_strict(rule: &str) -> Result<Program, String> {
    let program = ENV.compile(rule).map_err(|e| e.to_string())?;
    let unsupported: Vec<String> = program
        .references()
        .functions()
        .into_iter()
        .filter(|f| !supported(f))
        .map(str::to_owned)
        .collect();
    if unsupported.is_empty() {
        Ok(program)
    } else {
        Err(format!(
            "calls {} which Slipway does not evaluate",
            unsupported.join(", ")
        ))
    }
}

/// Runs a compiled rule with `variables` bound: `Ok(true)` passes; an error fails the rule.
pub fn run(program: &Program, variables: &[(&str, &Value)]) -> Result<bool, String> {
    let bound: Vec<&Value> = variables.iter().map(|(_, v)| *v).collect();
    within_cost_limit(program, &bound)?;
    let mut context = context();
    for (name, value) in variables {
        context.add_variable_from_value(*name, typed(&Value::Null, value));
    }
    match program.execute(&context) {
        Ok(cel::Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("the rule returned {other:?}, not a boolean")),
        Err(error) => Err(error.to_string()),
    }
}

/// Walks `values` along the structural `schema` and evaluates every checkable rule of every
/// node that has a value, reporting failures at the node's JSON Pointer under `path`.
pub fn check_rules(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    if let Some(rules) = schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
    {
        for rule in rules {
            let Some(text) = rule.get("rule").and_then(Value::as_str) else {
                continue;
            };
            let message = rule
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("Failed rule: {text}"));
            match evaluate(text, schema, value) {
                Some(Ok(false)) => errors.push(FieldError {
                    path: path.to_owned(),
                    message,
                }),
                Some(Err(error)) => errors.push(FieldError {
                    path: path.to_owned(),
                    message: format!("{message} (the rule could not be evaluated: {error})"),
                }),
                Some(Ok(true)) | None => {}
            }
        }
    }
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|v| v.is_object());
            for (key, child) in map {
                let child_schema = properties.and_then(|p| p.get(key)).or(additional);
                if let Some(child_schema) = child_schema {
                    check_rules(child_schema, child, &pointer_child(path, key), errors);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check_rules(item_schema, item, &format!("{path}/{i}"), errors);
                }
            }
        }
        _ => {}
    }
}

/// The API server's limit on what one rule may cost (`PerCallLimit`).
pub const COST_LIMIT: u128 = 1_000_000;

/// Functions that walk a whole list, map or string: each is a loop of its own.
const LINEAR: &[&str] = &[
    "@in",
    "indexOf",
    "lastIndexOf",
    "sum",
    "min",
    "max",
    "isSorted",
    "find",
    "findAll",
    "matches",
    "contains",
    "split",
    "join",
    "replace",
    "distinct",
    "sort",
    "flatten",
    "reverse",
    "slice",
    "_+_",
    "_==_",
    "_!=_",
];

/// Refuses to run a rule whose loops could exceed [`COST_LIMIT`] over `values`: the largest
/// collection (list, map or string) in them, raised to the depth of nested loops the rule has
/// — comprehensions (`all`, `exists`, `map`, `filter` …) and calls that walk a whole value
/// (`in`, `indexOf`, `sum` …). The Rust engine keeps no cost account as the API server's
/// does, so this upper bound stands in for it: a rule under it costs no more than the
/// limit, one over it is refused, named, rather than left to hold a worker.
fn within_cost_limit(program: &Program, values: &[&Value]) -> Result<(), String> {
    let depth = nesting(program.expression());
    if depth == 0 {
        return Ok(());
    }
    let largest = values
        .iter()
        .map(|v| largest_collection(v))
        .max()
        .unwrap_or(1);
    let estimate = largest.max(1).saturating_pow(depth);
    if estimate > COST_LIMIT {
        return Err(format!(
            "it could take about {estimate} steps over these values, more than the {COST_LIMIT} the API server allows one rule"
        ));
    }
    Ok(())
}

/// The deepest nesting of loops in an expression.
fn nesting(expr: &cel::IdedExpr) -> u32 {
    use cel::common::ast::{EntryExpr, Expr};
    let deepest =
        |exprs: &mut dyn Iterator<Item = &cel::IdedExpr>| exprs.map(nesting).max().unwrap_or(0);
    let entries = |entries: &[cel::common::ast::IdedEntryExpr]| {
        entries
            .iter()
            .flat_map(|e| match &e.expr {
                EntryExpr::MapEntry(entry) => vec![nesting(&entry.key), nesting(&entry.value)],
                EntryExpr::StructField(field) => vec![nesting(&field.value)],
            })
            .max()
            .unwrap_or(0)
    };
    match &expr.expr {
        Expr::Comprehension(c) => [&c.iter_range, &c.accu_init, &c.result]
            .into_iter()
            .map(nesting)
            .max()
            .unwrap_or(0)
            .max(1 + nesting(&c.loop_cond).max(nesting(&c.loop_step))),
        Expr::Call(call) => {
            let inner = deepest(&mut call.target.iter().map(|t| &**t).chain(call.args.iter()));
            if LINEAR.contains(&call.func_name.as_str()) {
                inner.max(1)
            } else {
                inner
            }
        }
        Expr::List(list) => deepest(&mut list.elements.iter()),
        Expr::Map(map) => entries(&map.entries),
        Expr::Struct(object) => entries(&object.entries),
        Expr::Select(select) => nesting(&select.operand),
        _ => 0,
    }
}

/// The size of the largest list, map or string anywhere in a JSON value (at least 1).
fn largest_collection(value: &Value) -> u128 {
    let own = match value {
        Value::Array(items) => items.len(),
        Value::Object(map) => map.len(),
        Value::String(s) => s.len(),
        _ => 1,
    } as u128;
    let inner = match value {
        Value::Array(items) => items.iter().map(largest_collection).max().unwrap_or(1),
        Value::Object(map) => map.values().map(largest_collection).max().unwrap_or(1),
        _ => 1,
    };
    own.max(inner).max(1)
}

/// A JSON value as CEL sees it in Kubernetes: whole numbers are `int` (JSON's non-negative
/// ones too — a generic conversion would make them `uint`, and `self.replicas + 1` an error),
/// numbers of a `type: number` schema are `double`, objects are maps.
fn typed(schema: &Value, value: &Value) -> cel::Value {
    let is_number = schema.get("type").and_then(Value::as_str) == Some("number");
    match value {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) if is_number => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => cel::Value::Int(i),
            (None, Some(u)) => cel::Value::UInt(u),
            _ => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(items) => {
            let item_schema = schema.get("items").unwrap_or(&Value::Null);
            cel::Value::List(Arc::new(
                items.iter().map(|v| typed(item_schema, v)).collect(),
            ))
        }
        Value::Object(map) => {
            let properties = schema.get("properties");
            let additional = schema.get("additionalProperties").unwrap_or(&Value::Null);
            let entries: std::collections::HashMap<String, cel::Value> = map
                .iter()
                .map(|(k, v)| {
                    let child = properties.and_then(|p| p.get(k)).unwrap_or(additional);
                    (k.clone(), typed(child, v))
                })
                .collect();
            cel::Value::Map(entries.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_supported_function_evaluates_as_kubernetes_does() {
        let v = json!({"name": "orders-db", "tags": ["a", "b"], "n": 3, "s": " Hi "});
        let cases = [
            "size(self.tags) == 2",
            "has(self.name)",
            "self.tags.all(t, t != 'c')",
            "self.tags.exists(t, t == 'a')",
            "self.tags.exists_one(t, t == 'a')",
            "self.tags.map(t, t + 'x') == ['ax', 'bx']",
            "self.tags.filter(t, t == 'b').size() == 1",
            "self.name.contains('ders')",
            "self.name.startsWith('orders')",
            "self.name.endsWith('-db')",
            "self.name.matches('^[a-z-]+$')",
            "int('3') == self.n",
            "uint(3) == 3u",
            "double(self.n) == 3.0",
            "string(self.n) == '3'",
            "bool('true')",
            "self.s.lowerAscii() == ' hi '",
            "self.s.upperAscii() == ' HI '",
            "self.s.trim() == 'Hi'",
            "self.name.split('-') == ['orders', 'db']",
            "self.tags.join(',') == 'a,b'",
            "self.name.replace('-', '_') == 'orders_db'",
            "self.name.indexOf('-') == 6",
            "self.name.lastIndexOf('d') == 7",
            "self.name.substring(0, 6) == 'orders'",
        ];
        for function in SUPPORTED {
            assert!(
                cases.iter().any(|c| c.contains(&format!("{function}("))),
                "{function} has no case"
            );
        }
        for case in cases {
            assert_eq!(evaluate(case, &Value::Null, &v), Some(Ok(true)), "{case}");
        }
    }

    #[test]
    fn whole_numbers_are_ints_and_a_number_schemas_values_doubles_as_in_kubernetes() {
        let schema = json!({"type": "object", "properties": {
            "replicas": {"type": "integer"}, "ratio": {"type": "number"}}});
        let v = json!({"replicas": 3, "ratio": 1});
        for rule in [
            "self.replicas + 1 == 4",
            "self.replicas * 2 <= 10",
            "self.ratio == 1.0",
            "self.ratio * 2.5 == 2.5",
        ] {
            assert_eq!(evaluate(rule, &schema, &v), Some(Ok(true)), "{rule}");
        }
    }

    #[test]
    fn the_kubernetes_libraries_evaluate_as_the_api_server_defines_them() {
        let v = json!({"sizes": [1, 2, 3], "weights": [0.5, 1.5], "names": ["b", "a"],
            "endpoint": "https://db.example.com:5432/orders?ssl=on&ssl=strict",
            "memory": "512Mi", "cpu": "250m", "id": "order-42-x"});
        let cases = [
            "self.sizes.isSorted() && !self.names.isSorted()",
            "self.sizes.sum() == 6 && self.weights.sum() == 2.0",
            "self.sizes.min() == 1 && self.names.max() == 'b'",
            "self.names.indexOf('a') == 1 && self.sizes.indexOf(9) == -1 && self.id.indexOf('-') == 5",
            "[1, 2, 1].lastIndexOf(1) == 2 && self.id.lastIndexOf('-') == 8",
            "self.id.find('[0-9]+') == '42' && self.id.find('z') == ''",
            "self.id.findAll('[a-z]+') == ['order', 'x'] && self.id.findAll('[a-z]+', 1) == ['order']",
            "isURL(self.endpoint) && !isURL('not a url') && isURL('/just/a/path')",
            "url(self.endpoint).getScheme() == 'https'",
            "url(self.endpoint).getHost() == 'db.example.com:5432'",
            "url(self.endpoint).getHostname() == 'db.example.com'",
            "url(self.endpoint).getPort() == '5432' && url('https://x.example').getPort() == ''",
            "url('https://Db.example:443').getHost() == 'Db.example:443' && url('https://db:443/').getPort() == '443'",
            "url('https://[::1]:8080/x').getHostname() == '::1' && url('https://[::1]:8080/x').getPort() == '8080'",
            "url(self.endpoint).getEscapedPath() == '/orders' && url('https://example.com').getEscapedPath() == ''",
            "!isURL('mailto:a@b.c')",
            "url(self.endpoint).getQuery()['ssl'] == ['on', 'strict']",
            "isQuantity(self.memory) && !isQuantity('512MB')",
            "quantity(self.memory).isLessThan(quantity('1Gi'))",
            "quantity('1Gi').isGreaterThan(quantity(self.memory))",
            "quantity('1Gi').compareTo(quantity('1024Mi')) == 0",
            "quantity('2').isInteger() && !quantity(self.cpu).isInteger()",
            "quantity('2k').asInteger() == 2000",
            "quantity(self.cpu).asApproximateFloat() == 0.25",
            "quantity('-1').sign() == -1 && quantity(self.cpu).sign() == 1",
            "quantity(self.cpu).add(quantity('750m')).asInteger() == 1 && quantity('1').add(2).asInteger() == 3",
            "quantity('1Gi').sub(quantity('512Mi')).compareTo(quantity(self.memory)) == 0 && quantity('3').sub(1).asInteger() == 2",
        ];
        for function in super::super::cel_kubernetes::FUNCTIONS {
            assert!(
                cases.iter().any(|c| c.contains(&format!("{function}("))),
                "{function} has no case"
            );
        }
        for case in cases {
            assert_eq!(evaluate(case, &Value::Null, &v), Some(Ok(true)), "{case}");
        }
        assert!(matches!(
            evaluate(
                "self.names.min() == ''",
                &Value::Null,
                &json!({"names": []})
            ),
            Some(Err(_))
        ));
    }

    #[test]
    fn a_rule_whose_loops_would_pass_the_api_servers_cost_limit_is_refused_and_named() {
        let quadratic = "self.a.all(x, self.a.exists_one(y, y == x))";
        let small = json!({"a": (0..100).collect::<Vec<_>>()});
        assert_eq!(evaluate(quadratic, &Value::Null, &small), Some(Ok(true)));
        let large = json!({"a": (0..5_000).collect::<Vec<_>>()});
        let Some(Err(reason)) = evaluate(quadratic, &Value::Null, &large) else {
            panic!("a quadratic rule over 5,000 values is refused");
        };
        assert!(reason.contains("1000000"), "{reason}");
        // One loop over the same values is well within the limit.
        assert_eq!(
            evaluate("self.a.all(x, x >= 0)", &Value::Null, &large),
            Some(Ok(true))
        );
        // A call that walks the list inside a loop is a loop too.
        let hidden = "self.a.all(t, self.a.indexOf(t) == self.a.lastIndexOf(t))";
        assert!(matches!(
            evaluate(hidden, &Value::Null, &large),
            Some(Err(_))
        ));
        // What counts is the largest collection, not everything in `self` (here 1,015 values
        // in all, but no collection over 100).
        let mut wide = json!({"ports": [1, 2, 3, 4, 5], "config": {}});
        for g in 0..10 {
            for i in 0..100 {
                wide["config"][format!("g{g}")][format!("k{i}")] = json!(i);
            }
        }
        assert_eq!(
            evaluate(
                "self.ports.all(p, self.ports.exists_one(q, q == p))",
                &Value::Null,
                &wide
            ),
            Some(Ok(true))
        );
    }

    #[test]
    fn kubernetes_only_functions_and_transition_rules_are_left_to_the_cluster() {
        assert!(!can_check("isIP(self.address)"));
        assert!(!can_check("self == oldSelf"));
        assert!(can_check("self.items.map(c, c.w).sum() <= 99"));
        assert!(can_check("isQuantity(self.memory)"));
        assert!(can_check("self.min <= self.max"));
    }

    #[test]
    fn a_failing_rule_is_reported_at_its_node_with_its_message() {
        let schema = json!({
            "type": "object",
            "properties": {"scaling": {
                "type": "object",
                "x-kubernetes-validations": [{"rule": "self.min <= self.max", "message": "min must not exceed max"}],
                "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}}
            }}
        });
        let mut errors = vec![];
        check_rules(
            &schema,
            &json!({"scaling": {"min": 5, "max": 2}}),
            "",
            &mut errors,
        );
        assert_eq!(
            errors,
            vec![FieldError {
                path: "/scaling".into(),
                message: "min must not exceed max".into()
            }]
        );
        errors.clear();
        check_rules(
            &schema,
            &json!({"scaling": {"min": 1, "max": 2}}),
            "",
            &mut errors,
        );
        assert!(errors.is_empty());
    }
}
