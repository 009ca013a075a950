//! The API reference as a page (`/api/v1/docs`), written from the OpenAPI document itself:
//! every operation with its parameters, body and answers, and every type. Plain HTML with no
//! script or style, so it is served under the strict policy of every response that is not a
//! portal page, and reads in any browser, text browser or screen reader.

use serde_json::Value;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The name a `$ref` points at (`#/components/schemas/RequestDraft` → `RequestDraft`).
fn type_name(schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return format!(r##"<a href="#type-{0}">{0}</a>"##, escape(name));
    }
    if let Some(items) = schema.get("items") {
        return format!("array of {}", type_name(items));
    }
    if let Some(any) = schema.get("oneOf").and_then(Value::as_array) {
        return any.iter().map(type_name).collect::<Vec<_>>().join(" or ");
    }
    match schema.get("type") {
        Some(Value::String(t)) => escape(t),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .map(escape)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any JSON".to_owned(),
    }
}

fn operation(path: &str, method: &str, op: &Value, out: &mut String) {
    let id = format!("{method}-{path}")
        .replace(['/', '{', '}', '.'], "-")
        .to_lowercase();
    out.push_str(&format!(
        r#"<section id="{id}"><h3><code>{} {}</code></h3>"#,
        method.to_uppercase(),
        escape(path)
    ));
    if let Some(text) = op
        .get("description")
        .or_else(|| op.get("summary"))
        .and_then(Value::as_str)
    {
        out.push_str(&format!("<p>{}</p>", escape(text)));
    }
    if let Some(params) = op.get("parameters").and_then(Value::as_array)
        && !params.is_empty()
    {
        out.push_str("<table><caption>Parameters</caption><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">In</th><th scope=\"col\">Type</th><th scope=\"col\">Required</th><th scope=\"col\">Description</th></tr></thead><tbody>");
        for p in params {
            out.push_str(&format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(p["name"].as_str().unwrap_or_default()),
                escape(p["in"].as_str().unwrap_or_default()),
                type_name(&p["schema"]),
                if p["required"].as_bool() == Some(true) {
                    "yes"
                } else {
                    "no"
                },
                escape(p["description"].as_str().unwrap_or_default())
            ));
        }
        out.push_str("</tbody></table>");
    }
    if let Some(body) = op.get("requestBody") {
        for (media, content) in body["content"].as_object().into_iter().flatten() {
            out.push_str(&format!(
                "<p>Body ({}): {}</p>",
                escape(media),
                type_name(&content["schema"])
            ));
        }
    }
    out.push_str("<table><caption>Answers</caption><thead><tr><th scope=\"col\">Status</th><th scope=\"col\">Meaning</th><th scope=\"col\">Body</th></tr></thead><tbody>");
    for (status, answer) in op["responses"].as_object().into_iter().flatten() {
        let body = answer["content"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(media, c)| format!("{} ({})", type_name(&c["schema"]), escape(media)))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(status),
            escape(answer["description"].as_str().unwrap_or_default()),
            body
        ));
    }
    out.push_str("</tbody></table></section>");
}

/// The whole page.
pub fn page(document: &utoipa::openapi::OpenApi) -> String {
    let doc = serde_json::to_value(document).unwrap_or(Value::Null);
    let title = escape(doc["info"]["title"].as_str().unwrap_or("API"));
    let mut out = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title} reference</title></head><body><main><h1>{title} reference</h1><p>{}</p><p>The machine-readable document: <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a> (OpenAPI {}).</p><h2>Operations</h2>",
        escape(doc["info"]["description"].as_str().unwrap_or_default()),
        escape(doc["openapi"].as_str().unwrap_or_default())
    );
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in ["get", "put", "post", "delete", "patch"] {
            if let Some(op) = item.get(method) {
                operation(path, method, op, &mut out);
            }
        }
    }
    out.push_str("<h2>Types</h2>");
    for (name, schema) in doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let pretty = serde_json::to_string_pretty(schema).unwrap_or_default();
        out.push_str(&format!(
            "<section id=\"type-{0}\"><h3>{0}</h3>{1}<details><summary>Schema</summary><pre>{2}</pre></details></section>",
            escape(name),
            schema["description"]
                .as_str()
                .map(|d| format!("<p>{}</p>", escape(d)))
                .unwrap_or_default(),
            escape(&pretty)
        ));
    }
    out.push_str("</main></body></html>");
    out
}
