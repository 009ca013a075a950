//! The schema-driven form: renders a [`FormModel`] over one JSON value, checks each field as
//! the person types (the same constraints the server enforces), and shows the server's
//! errors at the fields they name.
//!
//! State is one `RwSignal<Value>` for all values; each input reads and writes its JSON Pointer.
//! Lists and maps re-render when their length changes; everything else is static structure.

use std::collections::{BTreeMap, BTreeSet};

use leptos::prelude::*;
use serde_json::{Map, Value};

use crate::catalog::{Field, FieldKind, FormModel, client_errors, pointer_child};
use crate::components::announce::use_announcer;
use crate::components::focus::{
    first_control_of, focus_after_render, focus_first_after_render, with_id,
};

const INPUT: &str = "w-full rounded-md border border-control bg-surface px-2 py-1.5 text-sm aria-[invalid=true]:border-red-500";
const SMALL_BUTTON: &str = "rounded border border-control px-2 py-0.5 text-xs hover:bg-subtle";

/// What every field of one form shares.
#[derive(Clone, Copy)]
pub struct FormState {
    /// All values.
    pub values: RwSignal<Value>,
    /// Errors from the server, by path.
    pub server_errors: RwSignal<BTreeMap<String, Vec<String>>>,
    /// Paths the person has edited (client-side problems show only there).
    pub touched: RwSignal<BTreeSet<String>>,
    /// The browser's verdict on every field, by path: [`client_errors`] on the values as
    /// typed (shown where the person has edited).
    pub checks: Memo<BTreeMap<String, String>>,
}

impl FormState {
    /// The form `model` over `values`.
    pub fn new(values: Value, model: FormModel) -> Self {
        let values = RwSignal::new(values);
        let checks = Memo::new(move |_| {
            let errors = values.with(|v| client_errors(&model, v, &pattern_matches));
            let mut by_path = BTreeMap::<String, String>::new();
            for error in errors {
                by_path
                    .entry(error.path)
                    .and_modify(|m| {
                        m.push(' ');
                        m.push_str(&error.message);
                    })
                    .or_insert(error.message);
            }
            by_path
        });
        FormState {
            values,
            server_errors: RwSignal::new(BTreeMap::new()),
            touched: RwSignal::new(BTreeSet::new()),
            checks,
        }
    }

    /// Whether the person edited `path` or anything inside it.
    fn touched_within(&self, path: &str) -> bool {
        let inside = format!("{path}/");
        self.touched.with(|t| {
            t.range(path.to_owned()..)
                .take_while(|p| p.starts_with(path))
                .any(|p| p == path || p.starts_with(&inside))
        })
    }

    fn get(&self, path: &str) -> Option<Value> {
        self.values.with(|v| v.pointer(path).cloned())
    }

    fn set(&self, path: &str, value: Option<Value>) {
        self.values.update(|root| set_pointer(root, path, value));
        self.touched.update(|t| {
            t.insert(path.to_owned());
        });
        // The server's verdict on this field is stale once it changes.
        self.server_errors.update(|e| {
            e.remove(path);
        });
    }
}

/// Sets (or, with `None`, removes) the value at a JSON Pointer, creating objects on the way.
pub fn set_pointer(root: &mut Value, path: &str, value: Option<Value>) {
    let segments: Vec<String> = path
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let Some((last, parents)) = segments.split_last() else {
        if let Some(v) = value {
            *root = v;
        }
        return;
    };
    let mut node = root;
    for segment in parents {
        if !node.is_object() && !node.is_array() {
            *node = Value::Object(Map::new());
        }
        node = match node {
            Value::Array(items) => {
                match segment.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                    Some(item) => item,
                    None => return,
                }
            }
            Value::Object(map) => map
                .entry(segment.clone())
                .or_insert_with(|| Value::Object(Map::new())),
            _ => return,
        };
    }
    match (node, value) {
        (Value::Object(map), Some(v)) => {
            map.insert(last.clone(), v);
        }
        (Value::Object(map), None) => {
            map.shift_remove(last);
        }
        (Value::Array(items), Some(v)) => {
            if let Some(slot) = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                *slot = v;
            }
        }
        (node @ Value::Null, Some(v)) => {
            let mut map = Map::new();
            map.insert(last.clone(), v);
            *node = Value::Object(map);
        }
        _ => {}
    }
}

/// Checks a pattern with the browser's own ECMA-262 engine (the dialect JSON Schema names);
/// on the server, patterns are left to the JSON Schema validator.
fn pattern_matches(pattern: &str, value: &str) -> Option<bool> {
    #[cfg(feature = "hydrate")]
    {
        js_sys::RegExp::new(pattern, "u").test(value).into()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (pattern, value);
        None
    }
}

/// The message to show under a field: the server's, else the browser's once the field (or
/// something inside it) was edited.
fn message_for(state: FormState, path: &str) -> Option<String> {
    if let Some(messages) = state.server_errors.with(|e| e.get(path).cloned()) {
        return Some(messages.join(" "));
    }
    if !state.touched_within(path) {
        return None;
    }
    state.checks.with(|c| c.get(path).cloned())
}

/// Renders fields (top level or inside an object), advanced ones folded.
pub fn fields_view(state: FormState, fields: &[Field], parent: &str) -> AnyView {
    let (advanced, normal): (Vec<&Field>, Vec<&Field>) = fields
        .iter()
        .filter(|f| !f.ui.hidden)
        .partition(|f| f.ui.advanced);
    let normal_views = normal
        .into_iter()
        .map(|f| field_view(state, f.clone(), pointer_child(parent, &f.key)))
        .collect_view();
    let advanced_views = (!advanced.is_empty()).then(|| {
        let inner = advanced
            .into_iter()
            .map(|f| field_view(state, f.clone(), pointer_child(parent, &f.key)))
            .collect_view();
        view! {
            <details class="rounded-md border border-dashed border-line p-3">
                <summary class="cursor-pointer text-sm font-medium text-secondary">"Advanced"</summary>
                <div class="mt-3 space-y-4">{inner}</div>
            </details>
        }
    });
    view! { <div class="space-y-4">{normal_views}{advanced_views}</div> }.into_any()
}

/// One field with its label, help text and error.
pub fn field_view(state: FormState, field: Field, path: String) -> AnyView {
    let id = format!("f{}", path.replace(['/', '~'], "-"));
    let error_path = path.clone();
    let error = Memo::new(move |_| message_for(state, &error_path));
    let error_id = format!("{id}-error");
    let help_id = format!("{id}-help");
    let has_help = !field.description.is_empty();
    let help = has_help.then(|| {
        view! { <p id=help_id.clone() class="mt-1 text-xs text-muted">{field.description.clone()}</p> }
    });
    let error_view = {
        let error_id = error_id.clone();
        move || {
            error.get().map(|m| {
                view! { <p id=error_id.clone() role="alert" class="mt-1 text-xs text-red-700 dark:text-red-400" data-testid="field-error">{m}</p> }
            })
        }
    };
    // Required in words for screen readers; the asterisk (explained above the form) for eyes.
    let required_mark = field.required.then(|| {
        view! {
            <span class="text-red-700 dark:text-red-400" aria-hidden="true">" *"</span>
            <span class="sr-only">" (required)"</span>
        }
    });
    // Groups, lists and maps share one frame: a fieldset with legend, help and error.
    let body = match &field.kind {
        FieldKind::Object { fields } => {
            Some(view! { <div class="mt-2">{fields_view(state, fields, &path)}</div> }.into_any())
        }
        FieldKind::List { item, .. } => {
            Some(list_body(state, &field.label, (**item).clone(), path.clone()).into_any())
        }
        FieldKind::Map { value } => {
            Some(map_body(state, &field.label, (**value).clone(), path.clone()).into_any())
        }
        _ => None,
    };
    if let Some(body) = body {
        return view! {
            <fieldset class="rounded-md border border-line p-3" data-path=path.clone()>
                <legend class="px-1 text-sm font-medium">{field.label.clone()}{required_mark}</legend>
                {help}
                {body}
                {error_view}
            </fieldset>
        }
        .into_any();
    }
    // The control is described by its help text and, while there is one, its error.
    let described = Signal::derive(move || {
        let error = error.with(|e| e.is_some()).then_some(error_id.as_str());
        let help = has_help.then_some(help_id.as_str());
        [help, error]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ")
    });
    let control = scalar_control(state, &field, &path, &id, error, described);
    view! {
        <div data-path=path.clone()>
            <label for=id.clone() class="block text-sm font-medium">{field.label.clone()}{required_mark}</label>
            <div class="mt-1">{control}</div>
            {help}
            {error_view}
        </div>
    }
    .into_any()
}

fn scalar_control(
    state: FormState,
    field: &Field,
    path: &str,
    id: &str,
    error: Memo<Option<String>>,
    described: Signal<String>,
) -> AnyView {
    let path = path.to_owned();
    let invalid = move || error.with(|e| e.is_some()).to_string();
    let required = field.required;
    let placeholder = field.ui.placeholder.clone().unwrap_or_default();
    let current_text = {
        let path = path.clone();
        move || match state.get(&path) {
            Some(Value::String(s)) => s,
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    };
    match &field.kind {
        FieldKind::Boolean => {
            let read = path.clone();
            view! {
                <input id=id.to_owned() type="checkbox" class="h-4 w-4"
                    aria-invalid=invalid aria-describedby={move || described.get()} aria-required=required.then_some("true")
                    prop:checked=move || state.get(&read).and_then(|v| v.as_bool()).unwrap_or(false)
                    on:change=move |ev| state.set(&path, Some(Value::Bool(event_target_checked(&ev)))) />
            }
            .into_any()
        }
        FieldKind::Text { choices, .. } if !choices.is_empty() => {
            let choices = choices.clone();
            view! {
                <select id=id.to_owned() class=INPUT aria-invalid=invalid aria-describedby={move || described.get()} aria-required=required.then_some("true")
                    prop:value=current_text
                    on:change=move |ev| {
                        let v = event_target_value(&ev);
                        state.set(&path, (!v.is_empty()).then_some(Value::String(v)));
                    }>
                    {(!required).then(|| view! { <option value="">"—"</option> })}
                    {choices.into_iter().map(|c| view! { <option value=c.clone()>{c.clone()}</option> }).collect_view()}
                </select>
            }
            .into_any()
        }
        FieldKind::Integer { .. } | FieldKind::Number { .. } => {
            let integer = matches!(field.kind, FieldKind::Integer { .. });
            view! {
                <input id=id.to_owned() type="number" step=if integer { "1" } else { "any" } class=INPUT
                    aria-invalid=invalid aria-describedby={move || described.get()} aria-required=required.then_some("true") placeholder=placeholder
                    prop:value=current_text
                    on:input=move |ev| {
                        let raw = event_target_value(&ev);
                        let value = if raw.trim().is_empty() {
                            None
                        } else if let Ok(i) = raw.trim().parse::<i64>() {
                            Some(Value::from(i))
                        } else if let Ok(f) = raw.trim().parse::<f64>() {
                            serde_json::Number::from_f64(f).map(Value::Number)
                        } else {
                            Some(Value::String(raw))
                        };
                        state.set(&path, value);
                    } />
            }
            .into_any()
        }
        FieldKind::Any => {
            let read = path.clone();
            view! {
                <textarea id=id.to_owned() rows="4" class=format!("{INPUT} font-mono") aria-invalid=invalid aria-describedby={move || described.get()} aria-required=required.then_some("true")
                    placeholder="JSON, e.g. {\"key\": \"value\"}"
                    prop:value=move || state.get(&read).map(|v| serde_json::to_string_pretty(&v).unwrap_or_default()).unwrap_or_default()
                    on:change=move |ev| {
                        let raw = event_target_value(&ev);
                        if raw.trim().is_empty() {
                            state.set(&path, None);
                        } else {
                            match serde_json::from_str::<Value>(&raw) {
                                Ok(v) => state.set(&path, Some(v)),
                                Err(e) => state.server_errors.update(|errors| {
                                    errors.insert(path.clone(), vec![format!("Not valid JSON: {e}")]);
                                }),
                            }
                        }
                    }></textarea>
            }
            .into_any()
        }
        _ => {
            let int_or_string = matches!(field.kind, FieldKind::IntOrString { .. });
            let textarea = field.ui.widget.as_deref() == Some("textarea");
            let kind = if field.ui.widget.as_deref() == Some("password") {
                "password"
            } else {
                "text"
            };
            let write = move |raw: String| {
                let value = if raw.is_empty() {
                    None
                } else if int_or_string && let Ok(i) = raw.parse::<i64>() {
                    Some(Value::from(i))
                } else {
                    Some(Value::String(raw))
                };
                state.set(&path, value);
            };
            if textarea {
                view! {
                    <textarea id=id.to_owned() rows="4" class=INPUT aria-invalid=invalid aria-describedby={move || described.get()} aria-required=required.then_some("true") placeholder=placeholder
                        prop:value=current_text on:input=move |ev| write(event_target_value(&ev))></textarea>
                }
                .into_any()
            } else {
                view! {
                    <input id=id.to_owned() type=kind class=INPUT aria-invalid=invalid aria-describedby={move || described.get()} aria-required=required.then_some("true") placeholder=placeholder
                        prop:value=current_text on:input=move |ev| write(event_target_value(&ev)) />
                }
                .into_any()
            }
        }
    }
}

/// The rows of a list, with add/remove/reorder.
fn list_body(state: FormState, label: &str, item: Field, path: String) -> impl IntoView {
    let add_label = format!("Add to {label}");
    let len_path = path.clone();
    let len = Memo::new(move |_| {
        state.values.with(|v| {
            v.pointer(&len_path)
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        })
    });
    let edit = {
        let path = path.clone();
        move |f: &dyn Fn(&mut Vec<Value>)| {
            let mut items = state
                .get(&path)
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default();
            f(&mut items);
            state.set(&path, Some(Value::Array(items)));
        }
    };
    let blank = blank_value(&item);
    // A new item takes the focus (its first control); a removed one hands it to the item that
    // took its place, or to "Add" when it was the last: never to a button that is gone.
    let add_id = format!("add{}", path.replace(['/', '~'], "-"));
    let add = {
        let edit = edit.clone();
        let path = path.clone();
        move |_| {
            edit(&|items: &mut Vec<Value>| items.push(blank.clone()));
            focus_after_render(first_control_of(&format!(
                "{path}/{}",
                len.get_untracked().saturating_sub(1)
            )));
        }
    };
    // A moved item keeps the focus: on its button for the same direction at its new place
    // (the other one at either end), and the move is announced.
    let announcer = use_announcer();
    let moved = {
        let add_id = add_id.clone();
        let label = item.label.clone();
        move |from: usize, to: usize, direction: &str| {
            let other = if direction == "up" { "down" } else { "up" };
            focus_first_after_render(vec![
                with_id(&format!("{add_id}-{to}-{direction}")),
                with_id(&format!("{add_id}-{to}-{other}")),
            ]);
            announcer.say(format!(
                "{label} {} moved to position {} of {}",
                from + 1,
                to + 1,
                len.get_untracked()
            ));
        }
    };
    let rows = {
        let path = path.clone();
        let add_id = add_id.clone();
        move || {
            (0..len.get())
                .map(|i| {
                    let name = format!("{} {}", item.label, i + 1);
                    let item_view = field_view(state, Field { label: name.clone(), ..item.clone() }, format!("{path}/{i}"));
                    let (e1, e2, e3) = (edit.clone(), edit.clone(), edit.clone());
                    let (moved, moved2) = (moved.clone(), moved.clone());
                    let last = i + 1 >= len.get_untracked();
                    let after_remove = if last {
                        if i == 0 { with_id(&add_id) } else { first_control_of(&format!("{path}/{}", i - 1)) }
                    } else {
                        first_control_of(&format!("{path}/{i}"))
                    };
                    // Server rendering emits no event handlers, so these go unused there.
                    #[cfg(not(feature = "hydrate"))]
                    let _ = (&e1, &e2, &e3, &after_remove, &moved, &moved2);
                    view! {
                        <li class="flex items-start gap-2">
                            <div class="grow">{item_view}</div>
                            <div class="flex shrink-0 gap-1 pt-6">
                                <button type="button" id=format!("{add_id}-{i}-up") class=SMALL_BUTTON aria-label=format!("Move {name} up") disabled=i == 0
                                    on:click=move |_| {
                                        e1(&|items: &mut Vec<Value>| items.swap(i, i - 1));
                                        moved(i, i - 1, "up");
                                    }>"↑"</button>
                                <button type="button" id=format!("{add_id}-{i}-down") class=SMALL_BUTTON aria-label=format!("Move {name} down") disabled=last
                                    on:click=move |_| {
                                        e2(&|items: &mut Vec<Value>| items.swap(i, i + 1));
                                        moved2(i, i + 1, "down");
                                    }>"↓"</button>
                                <button type="button" class=SMALL_BUTTON aria-label=format!("Remove {name}")
                                    on:click=move |_| {
                                        e3(&|items: &mut Vec<Value>| { items.remove(i); });
                                        focus_after_render(after_remove.clone());
                                    }>"Remove"</button>
                            </div>
                        </li>
                    }
                })
                .collect_view()
        }
    };
    view! {
        <ul class="mt-2 space-y-3">{rows}</ul>
        <button type="button" id=add_id class=format!("{SMALL_BUTTON} mt-2") aria-label=add_label on:click=add>"Add"</button>
    }
}

/// The entries of a key/value map, with a field to add a key.
fn map_body(state: FormState, label: &str, value_field: Field, path: String) -> impl IntoView {
    let new_key_label = format!("New key for {label}");
    let keys_path = path.clone();
    let keys = Memo::new(move |_| {
        state.values.with(|v| {
            v.pointer(&keys_path)
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
    });
    let new_key = RwSignal::new(String::new());
    let new_key_id = format!("new-key{}", path.replace(['/', '~'], "-"));
    let add = {
        let path = path.clone();
        let blank = blank_value(&value_field);
        move |_| {
            let key = new_key.get_untracked().trim().to_owned();
            if key.is_empty() {
                return;
            }
            let mut map = state
                .get(&path)
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default();
            let entry = pointer_child(&path, &key);
            map.entry(key).or_insert(blank.clone());
            state.set(&path, Some(Value::Object(map)));
            new_key.set(String::new());
            // The new (or existing) entry's value takes the focus, as a new list item does.
            focus_after_render(first_control_of(&entry));
        }
    };
    let rows = {
        let path = path.clone();
        let new_key_id = new_key_id.clone();
        move || {
            keys.get()
                .into_iter()
                .map(|key| {
                    let entry_path = pointer_child(&path, &key);
                    let remove_path = entry_path.clone();
                    let view = field_view(state, Field { label: key.clone(), ..value_field.clone() }, entry_path);
                    view! {
                        <li class="flex items-start gap-2">
                            <div class="grow">{view}</div>
                            <button type="button" class=format!("{SMALL_BUTTON} mt-6") aria-label=format!("Remove {key}")
                                on:click={
                                    let new_key_id = new_key_id.clone();
                                    move |_| {
                                        state.set(&remove_path, None);
                                        // Not left on a button that is gone: to the box that adds one.
                                        focus_after_render(with_id(&new_key_id));
                                    }
                                }>"Remove"</button>
                        </li>
                    }
                })
                .collect_view()
        }
    };
    view! {
        <ul class="mt-2 space-y-3">{rows}</ul>
        <div class="mt-2 flex gap-2">
            <input type="text" id=new_key_id class=INPUT placeholder="New key" aria-label=new_key_label
                    prop:value=move || new_key.get() on:input=move |ev| new_key.set(event_target_value(&ev)) />
            <button type="button" class=SMALL_BUTTON on:click=add>"Add"</button>
        </div>
    }
}

/// What a new list element or map value starts as.
fn blank_value(field: &Field) -> Value {
    if let Some(d) = &field.default {
        return d.clone();
    }
    match &field.kind {
        FieldKind::Object { fields } => crate::catalog::initial_values(fields),
        FieldKind::List { .. } => Value::Array(vec![]),
        FieldKind::Map { .. } | FieldKind::Any => Value::Object(Map::new()),
        FieldKind::Boolean => Value::Bool(false),
        FieldKind::Integer { minimum, .. } => Value::from(minimum.unwrap_or(0.0) as i64),
        FieldKind::Number { minimum, .. } => {
            serde_json::Number::from_f64(minimum.unwrap_or(0.0)).map_or(Value::Null, Value::Number)
        }
        FieldKind::Text { choices, .. } => {
            Value::String(choices.first().cloned().unwrap_or_default())
        }
        FieldKind::IntOrString { .. } => Value::String(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_pointer_creates_parents_and_removes_keys() {
        let mut v = json!({});
        set_pointer(&mut v, "/a/b", Some(json!(1)));
        assert_eq!(v, json!({"a": {"b": 1}}));
        set_pointer(&mut v, "/list", Some(json!(["x", "y"])));
        set_pointer(&mut v, "/list/1", Some(json!("z")));
        assert_eq!(v["list"], json!(["x", "z"]));
        set_pointer(&mut v, "/a/b", None);
        assert_eq!(v["a"], json!({}));
        set_pointer(&mut v, "/k~1v", Some(json!(true)));
        assert_eq!(v["k/v"], json!(true));
    }
}
