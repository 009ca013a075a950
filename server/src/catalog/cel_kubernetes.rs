//! The Kubernetes CEL libraries the `cel` crate does not have, as the API server defines them
//! for `x-kubernetes-validations`: lists (`isSorted`, `sum`, `min`, `max`, `indexOf`,
//! `lastIndexOf`), regular
//! expressions (`find`, `findAll`), URLs (`isURL`, `url` and its getters) and quantities
//! (`isQuantity`, `quantity` and its comparisons and arithmetic).
//!
//! A URL is carried as the string it was made from (checked when made), a quantity as a map
//! holding its exact value in nano-units, so both compare and print as CEL values do; their
//! methods read them back.

use std::collections::HashMap;
use std::sync::Arc;

use cel::common::value::CowVal;
use cel::extractors::This;
use cel::objects::Key;
use cel::{Context, ExecutionError, Value};

/// The names this library adds (see [`register`]).
pub const FUNCTIONS: &[&str] = &[
    "isSorted",
    "sum",
    "min",
    "max",
    "find",
    "findAll",
    "isURL",
    "url",
    "getScheme",
    "getHost",
    "getHostname",
    "getPort",
    "getEscapedPath",
    "getQuery",
    "isQuantity",
    "quantity",
    "isInteger",
    "asInteger",
    "asApproximateFloat",
    "sign",
    "add",
    "sub",
    "compareTo",
    "isGreaterThan",
    "isLessThan",
];

type Result<T> = std::result::Result<T, ExecutionError>;

fn fail(function: &str, message: impl Into<String>) -> ExecutionError {
    ExecutionError::function_error(function, message.into())
}

/// Declares what must share a name with the strings library: `indexOf` and `lastIndexOf` on
/// lists (overloads told apart by the receiver's type).
pub fn declare(env: &mut cel::Env) -> std::result::Result<(), cel::DeclarationError> {
    use cel::common::types::{DYN_TYPE, LIST_TYPE};
    env.add_member_overload(
        "indexOf",
        "list_indexOf_dyn",
        LIST_TYPE,
        vec![DYN_TYPE],
        list_index_of,
    )?;
    env.add_member_overload(
        "lastIndexOf",
        "list_lastIndexOf_dyn",
        LIST_TYPE,
        vec![DYN_TYPE],
        list_last_index_of,
    )
}

fn position<'b, 'v>(
    args: Vec<CowVal<'b, 'v>>,
    function: &str,
    last: bool,
) -> Result<CowVal<'b, 'v>> {
    let [list, item]: [CowVal<'b, 'v>; 2] = args
        .try_into()
        .map_err(|_| fail(function, "expects one argument"))?;
    let list = Value::try_from(list.as_ref())?;
    let item = Value::try_from(item.as_ref())?;
    let items = items(&list, function)?;
    let found = if last {
        items.iter().rposition(|x| *x == item)
    } else {
        items.iter().position(|x| *x == item)
    };
    let index = found.map_or(-1, |i| i64::try_from(i).unwrap_or(i64::MAX));
    Ok(CowVal::owned(cel::common::types::CelInt::from(index)))
}

fn list_index_of<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>> {
    position(args, "indexOf", false)
}

fn list_last_index_of<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>> {
    position(args, "lastIndexOf", true)
}

/// Adds the library's functions to a context.
pub fn register(context: &mut Context<'_, '_>) {
    let add = |name: &str, outcome: std::result::Result<(), cel::DeclarationError>| {
        if let Err(error) = outcome {
            tracing::error!(%error, name, "a Kubernetes CEL function could not be registered");
        }
    };
    add("isSorted", context.add_function("isSorted", is_sorted));
    add("sum", context.add_function("sum", sum));
    add(
        "min",
        context.add_function("min", |This(list): This<Value>| extreme(list, "min")),
    );
    add(
        "max",
        context.add_function("max", |This(list): This<Value>| extreme(list, "max")),
    );
    add("find", context.add_function("find", find));
    add("findAll", context.add_function("findAll", find_all));
    add(
        "isURL",
        context.add_function("isURL", |s: Arc<String>| parse_url(&s).is_ok()),
    );
    add(
        "url",
        context.add_function("url", |s: Arc<String>| -> Result<Value> {
            parse_url(&s).map_err(|e| fail("url", e))?;
            Ok(Value::String(s))
        }),
    );
    add(
        "getScheme",
        context.add_function("getScheme", |This(u): This<Arc<String>>| {
            url_part(&u, Part::Scheme)
        }),
    );
    add(
        "getHost",
        context.add_function("getHost", |This(u): This<Arc<String>>| {
            url_part(&u, Part::Host)
        }),
    );
    add(
        "getHostname",
        context.add_function("getHostname", |This(u): This<Arc<String>>| {
            url_part(&u, Part::Hostname)
        }),
    );
    add(
        "getPort",
        context.add_function("getPort", |This(u): This<Arc<String>>| {
            url_part(&u, Part::Port)
        }),
    );
    add(
        "getEscapedPath",
        context.add_function("getEscapedPath", |This(u): This<Arc<String>>| {
            url_part(&u, Part::Path)
        }),
    );
    add("getQuery", context.add_function("getQuery", get_query));
    add(
        "isQuantity",
        context.add_function("isQuantity", |s: Arc<String>| parse_quantity(&s).is_some()),
    );
    add(
        "quantity",
        context.add_function("quantity", |s: Arc<String>| -> Result<Value> {
            parse_quantity(&s)
                .map(quantity_value)
                .ok_or_else(|| fail("quantity", format!("{s:?} is not a quantity")))
        }),
    );
    add(
        "isInteger",
        context.add_function("isInteger", |This(q): This<Value>| -> Result<bool> {
            let n = nanos(&q, "isInteger")?;
            Ok(n % NANO == 0 && i64::try_from(n / NANO).is_ok())
        }),
    );
    add(
        "asInteger",
        context.add_function("asInteger", |This(q): This<Value>| -> Result<i64> {
            let n = nanos(&q, "asInteger")?;
            if n % NANO != 0 {
                return Err(fail("asInteger", "the quantity is not a whole number"));
            }
            i64::try_from(n / NANO)
                .map_err(|_| fail("asInteger", "the quantity does not fit an int"))
        }),
    );
    add(
        "asApproximateFloat",
        context.add_function(
            "asApproximateFloat",
            |This(q): This<Value>| -> Result<f64> {
                Ok(nanos(&q, "asApproximateFloat")? as f64 / NANO as f64)
            },
        ),
    );
    add(
        "sign",
        context.add_function("sign", |This(q): This<Value>| -> Result<i64> {
            Ok(nanos(&q, "sign")?.signum() as i64)
        }),
    );
    add(
        "add",
        context.add_function(
            "add",
            |This(q): This<Value>, other: Value| -> Result<Value> {
                let sum = nanos(&q, "add")?
                    .checked_add(operand(&other, "add")?)
                    .ok_or_else(|| fail("add", "overflow"))?;
                Ok(quantity_value(sum))
            },
        ),
    );
    add(
        "sub",
        context.add_function(
            "sub",
            |This(q): This<Value>, other: Value| -> Result<Value> {
                let difference = nanos(&q, "sub")?
                    .checked_sub(operand(&other, "sub")?)
                    .ok_or_else(|| fail("sub", "overflow"))?;
                Ok(quantity_value(difference))
            },
        ),
    );
    add(
        "compareTo",
        context.add_function(
            "compareTo",
            |This(q): This<Value>, other: Value| -> Result<i64> {
                Ok(nanos(&q, "compareTo")?.cmp(&nanos(&other, "compareTo")?) as i64)
            },
        ),
    );
    add(
        "isGreaterThan",
        context.add_function(
            "isGreaterThan",
            |This(q): This<Value>, other: Value| -> Result<bool> {
                Ok(nanos(&q, "isGreaterThan")? > nanos(&other, "isGreaterThan")?)
            },
        ),
    );
    add(
        "isLessThan",
        context.add_function(
            "isLessThan",
            |This(q): This<Value>, other: Value| -> Result<bool> {
                Ok(nanos(&q, "isLessThan")? < nanos(&other, "isLessThan")?)
            },
        ),
    );
}

fn items(list: &Value, function: &str) -> Result<Arc<Vec<Value>>> {
    match list {
        Value::List(items) => Ok(items.clone()),
        _ => Err(fail(function, "expects a list")),
    }
}

fn is_sorted(This(list): This<Value>) -> Result<bool> {
    let items = items(&list, "isSorted")?;
    for pair in items.windows(2) {
        match pair[0].partial_cmp(&pair[1]) {
            Some(std::cmp::Ordering::Greater) => return Ok(false),
            Some(_) => {}
            None => return Err(fail("isSorted", "the elements cannot be compared")),
        }
    }
    Ok(true)
}

fn sum(This(list): This<Value>) -> Result<Value> {
    let items = items(&list, "sum")?;
    let mut total = match items.first() {
        Some(Value::Float(_)) => Value::Float(0.0),
        Some(Value::UInt(_)) => Value::UInt(0),
        _ => Value::Int(0),
    };
    for item in items.iter() {
        total = match (total, item) {
            (Value::Int(a), Value::Int(b)) => {
                Value::Int(a.checked_add(*b).ok_or_else(|| fail("sum", "overflow"))?)
            }
            (Value::UInt(a), Value::UInt(b)) => {
                Value::UInt(a.checked_add(*b).ok_or_else(|| fail("sum", "overflow"))?)
            }
            (Value::Float(a), Value::Float(b)) => Value::Float(a + b),
            _ => return Err(fail("sum", "the elements are not numbers of one type")),
        };
    }
    Ok(total)
}

fn extreme(list: Value, function: &str) -> Result<Value> {
    let items = items(&list, function)?;
    let mut best: Option<&Value> = None;
    for item in items.iter() {
        best = Some(match best {
            None => item,
            Some(current) => match item.partial_cmp(current) {
                Some(std::cmp::Ordering::Less) if function == "min" => item,
                Some(std::cmp::Ordering::Greater) if function == "max" => item,
                Some(_) => current,
                None => return Err(fail(function, "the elements cannot be compared")),
            },
        });
    }
    best.cloned()
        .ok_or_else(|| fail(function, format!("{function} of an empty list")))
}

fn regex(pattern: &str, function: &str) -> Result<regex::Regex> {
    regex::Regex::new(pattern).map_err(|e| fail(function, e.to_string()))
}

fn find(This(s): This<Arc<String>>, pattern: Arc<String>) -> Result<Value> {
    let found = regex(&pattern, "find")?
        .find(&s)
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    Ok(Value::String(Arc::new(found)))
}

fn find_all(
    This(s): This<Arc<String>>,
    cel::extractors::Arguments(args): cel::extractors::Arguments,
) -> Result<Value> {
    let pattern = match args.first() {
        Some(Value::String(p)) => p.clone(),
        _ => return Err(fail("findAll", "expects a pattern")),
    };
    let limit = match args.get(1) {
        Some(Value::Int(n)) if *n >= 0 => usize::try_from(*n).unwrap_or(usize::MAX),
        Some(Value::Int(_)) | None => usize::MAX,
        Some(_) => return Err(fail("findAll", "the limit must be an int")),
    };
    let all = regex(&pattern, "findAll")?
        .find_iter(&s)
        .take(limit)
        .map(|m| Value::String(Arc::new(m.as_str().to_owned())))
        .collect();
    Ok(Value::List(Arc::new(all)))
}

/// A URL as Go's `url.ParseRequestURI` accepts one: absolute (`scheme://…`), or an absolute
/// path.
fn parse_url(s: &str) -> std::result::Result<url::Url, String> {
    if s.starts_with('/') {
        return url::Url::parse(&format!("path-only://{s}")).map_err(|e| e.to_string());
    }
    let parsed = url::Url::parse(s).map_err(|e| e.to_string())?;
    if parsed.cannot_be_a_base() && !s.contains("://") {
        return Err(format!("{s:?} is not an absolute URL"));
    }
    Ok(parsed)
}

enum Part {
    Scheme,
    Host,
    Hostname,
    Port,
    Path,
}

/// The parts of a URL as written — Go's `url` keeps them so (a default port stays, case is
/// kept, an empty path is empty), where the WHATWG parser normalises them.
fn url_part(u: &str, part: Part) -> Result<Value> {
    parse_url(u).map_err(|e| fail("url", e))?;
    let (scheme, rest) = match u.split_once("://") {
        Some((scheme, rest)) if !u.starts_with('/') => (scheme, rest),
        _ => ("", u),
    };
    let (authority, after) = if scheme.is_empty() {
        ("", rest)
    } else {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        rest.split_at(end)
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (hostname, port) = match host.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((address, tail)) => (address, tail.strip_prefix(':').unwrap_or_default()),
            None => (bracketed, ""),
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) => (name, port),
            None => (host, ""),
        },
    };
    let path = after.split(['?', '#']).next().unwrap_or_default();
    let text = match part {
        Part::Scheme => scheme,
        Part::Host => host,
        Part::Hostname => hostname,
        Part::Port => port,
        Part::Path => path,
    };
    Ok(Value::String(Arc::new(text.to_owned())))
}

fn get_query(This(u): This<Arc<String>>) -> Result<Value> {
    let parsed = parse_url(&u).map_err(|e| fail("getQuery", e))?;
    let mut query: HashMap<String, Vec<Value>> = HashMap::new();
    for (key, value) in parsed.query_pairs() {
        query
            .entry(key.into_owned())
            .or_default()
            .push(Value::String(Arc::new(value.into_owned())));
    }
    let map: HashMap<Key, Value> = query
        .into_iter()
        .map(|(k, v)| (Key::String(Arc::new(k)), Value::List(Arc::new(v))))
        .collect();
    Ok(Value::Map(map.into()))
}

/// One unit in nano-units.
const NANO: i128 = 1_000_000_000;
/// The key under which a quantity value keeps its nano-units.
const QUANTITY: &str = "@quantity";

fn quantity_value(nanos: i128) -> Value {
    let mut map: HashMap<Key, Value> = HashMap::new();
    map.insert(
        Key::String(Arc::new(QUANTITY.to_owned())),
        Value::String(Arc::new(nanos.to_string())),
    );
    Value::Map(map.into())
}

fn nanos(value: &Value, function: &str) -> Result<i128> {
    if let Value::Map(map) = value
        && let Some(Value::String(n)) = map.map.get(&Key::String(Arc::new(QUANTITY.to_owned())))
        && let Ok(n) = n.parse::<i128>()
    {
        return Ok(n);
    }
    Err(fail(function, "expects a quantity"))
}

/// A quantity, or an int (in units), as nano-units.
fn operand(value: &Value, function: &str) -> Result<i128> {
    match value {
        Value::Int(n) => i128::from(*n)
            .checked_mul(NANO)
            .ok_or_else(|| fail(function, "overflow")),
        other => nanos(other, function),
    }
}

/// A Kubernetes quantity (`resource.Quantity`) in nano-units: a decimal number and a suffix —
/// binary (`Ki` … `Ei`), decimal SI (`n`, `u`, `m`, `k`, `M` … `E`) or an exponent (`e3`,
/// `E-2`). Precision below a nano-unit is rounded up, as the API server does.
pub fn parse_quantity(s: &str) -> Option<i128> {
    let number_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(number_end);
    let (negative, digits) = match number.as_bytes().first() {
        Some(b'-') => (true, &number[1..]),
        Some(b'+') => (false, &number[1..]),
        _ => (false, number),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if (whole.is_empty() && fraction.is_empty())
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // The value as a decimal mantissa and a power of ten, times a power of two.
    let mantissa: i128 = format!("{whole}{fraction}").parse().ok()?;
    let mut exponent10 = i32::try_from(fraction.len()).ok()?.checked_neg()?;
    let mut exponent2 = 0u32;
    match suffix {
        "" => {}
        "Ki" => exponent2 = 10,
        "Mi" => exponent2 = 20,
        "Gi" => exponent2 = 30,
        "Ti" => exponent2 = 40,
        "Pi" => exponent2 = 50,
        "Ei" => exponent2 = 60,
        "n" => exponent10 = exponent10.checked_sub(9)?,
        "u" => exponent10 = exponent10.checked_sub(6)?,
        "m" => exponent10 = exponent10.checked_sub(3)?,
        "k" => exponent10 = exponent10.checked_add(3)?,
        "M" => exponent10 = exponent10.checked_add(6)?,
        "G" => exponent10 = exponent10.checked_add(9)?,
        "T" => exponent10 = exponent10.checked_add(12)?,
        "P" => exponent10 = exponent10.checked_add(15)?,
        "E" => exponent10 = exponent10.checked_add(18)?,
        other => {
            let exponent = other.strip_prefix(['e', 'E'])?;
            exponent10 = exponent10.checked_add(exponent.parse::<i32>().ok()?)?;
        }
    }
    // Into nano-units: shift the power of ten by 9.
    let mut value = mantissa.checked_mul(1i128.checked_shl(exponent2)?)?;
    let shift = exponent10.checked_add(9)?;
    if shift >= 0 {
        value = value.checked_mul(10i128.checked_pow(u32::try_from(shift).ok()?)?)?;
    } else {
        let divisor = 10i128.checked_pow(u32::try_from(-shift).ok()?)?;
        value = value / divisor + i128::from(value % divisor != 0);
    }
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_read_as_the_api_server_reads_them() {
        for (text, units_in_nanos) in [
            ("1", NANO),
            ("1Gi", 1_073_741_824 * NANO),
            ("512Mi", 536_870_912 * NANO),
            ("100m", 100_000_000),
            ("1.5", 1_500_000_000),
            ("2k", 2_000 * NANO),
            ("1e3", 1_000 * NANO),
            ("-1", -NANO),
            ("1n", 1),
        ] {
            assert_eq!(parse_quantity(text), Some(units_in_nanos), "{text}");
        }
        for bad in [
            "",
            "Gi",
            "1GB",
            "1..2",
            "abc",
            "1 Gi",
            " 1Gi",
            "1e2147483647",
            "1e-2147483648",
        ] {
            assert_eq!(parse_quantity(bad), None, "{bad}");
        }
    }
}
