//! String formats as the Kubernetes API server validates them for custom resources (the
//! `format` of a structural schema). One implementation for the browser's live checks and
//! the server's authoritative check, so the two cannot disagree. Formats the API server does
//! not know are not checked here either (it ignores them).
//!
//! The rules follow kube-openapi's `strfmt` registry: `date-time`, `date`, `duration`,
//! `byte`, `uuid` (and `uuid3`/`uuid4`/`uuid5`), `email`, `hostname`, `ipv4`, `ipv6`,
//! `cidr`, `mac`, `uri`, `bsonobjectid`, `hexcolor`, `rgbcolor`, `isbn` (and `isbn10`/
//! `isbn13`), `creditcard`, `ssn`; `password` is any string.

/// Checks `value` against `format`; the problem in words, or `None` when it passes (or the
/// format is not one the API server validates).
pub fn check(format: &str, value: &str) -> Option<String> {
    let (ok, example) = match format {
        "date-time" | "datetime" => (is_date_time(value), "2026-11-30T17:00:00Z"),
        "date" => (is_date(value), "2026-11-30"),
        "duration" => (is_duration(value), "1h30m"),
        "byte" => (is_base64(value), "aGVsbG8="),
        "uuid" => (is_uuid(value, None), "123e4567-e89b-12d3-a456-426614174000"),
        "uuid3" => (is_uuid(value, Some(b'3')), "a UUID version 3"),
        "uuid4" => (is_uuid(value, Some(b'4')), "a UUID version 4"),
        "uuid5" => (is_uuid(value, Some(b'5')), "a UUID version 5"),
        "email" => (is_email(value), "team@example.com"),
        "hostname" => (is_hostname(value), "db.example.com"),
        "ipv4" => (is_ipv4(value), "192.0.2.10"),
        "ipv6" => (is_ipv6(value), "2001:db8::10"),
        "cidr" => (is_cidr(value), "10.0.0.0/16"),
        "mac" => (is_mac(value), "02:42:ac:11:00:02"),
        "uri" => (is_request_uri(value), "https://example.com/path"),
        "bsonobjectid" => (
            value.len() == 24 && value.bytes().all(|b| b.is_ascii_hexdigit()),
            "24 hexadecimal digits",
        ),
        "hexcolor" => (is_hex_color(value), "#1e90ff"),
        "rgbcolor" => (is_rgb_color(value), "rgb(30,144,255)"),
        "isbn" => (is_isbn10(value) || is_isbn13(value), "0321751043"),
        "isbn10" => (is_isbn10(value), "0321751043"),
        "isbn13" => (is_isbn13(value), "978-0321751041"),
        "creditcard" => (is_credit_card(value), "4111 1111 1111 1111"),
        "ssn" => (is_ssn(value), "123-45-6789"),
        _ => return None,
    };
    (!ok).then(|| format!("Must be a valid {format} (for example {example})."))
}

fn digits(s: &str, n: usize) -> Option<u32> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

fn is_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return false;
    };
    let (Some(year), Some(month), Some(day)) = (digits(year, 4), digits(month, 2), digits(day, 2))
    else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// RFC 3339, and the ISO 8601 variants strfmt also accepts: a space for the `T`, minutes
/// without seconds, a zone offset without its colon, or no zone at all.
fn is_date_time(s: &str) -> bool {
    if s.len() < 16 || !s.is_char_boundary(10) || !is_date(&s[..10]) {
        return false;
    }
    let rest = &s[10..];
    let Some(time) = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' ')) else {
        return false;
    };
    // The time, then an optional zone.
    let zone_at = time.find(['Z', 'z', '+', '-']).unwrap_or(time.len());
    let (clock, zone) = time.split_at(zone_at);
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, fraction)) => (hms, Some(fraction)),
        None => (clock, None),
    };
    if fraction.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    let fields: Vec<&str> = hms.split(':').collect();
    let in_range = |text: &str, max: u32| digits(text, 2).is_some_and(|v| v <= max);
    let clock_ok = match fields.as_slice() {
        [h, m] => fraction.is_none() && in_range(h, 23) && in_range(m, 59),
        [h, m, sec] => in_range(h, 23) && in_range(m, 59) && in_range(sec, 60),
        _ => false,
    };
    let zone_ok = match zone {
        "" | "Z" | "z" => true,
        offset => {
            let sign_less = &offset[1..];
            let (hh, mm) = match sign_less.split_once(':') {
                Some(parts) => parts,
                None if sign_less.len() == 4 => sign_less.split_at(2),
                None => return false,
            };
            in_range(hh, 23) && in_range(mm, 59)
        }
    };
    clock_ok && zone_ok
}

/// Go's `time.ParseDuration` syntax (`1h30m`, `-1.5h`, `300ms`), or strfmt's own: a number
/// and a unit word (`3 weeks`, `1 day`).
fn is_duration(s: &str) -> bool {
    go_duration(s) || word_duration(s)
}

fn go_duration(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    if s == "0" {
        return true;
    }
    let mut rest = s;
    let mut any = false;
    while !rest.is_empty() {
        let number = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (value, tail) = rest.split_at(number);
        if value.is_empty() || value == "." || value.matches('.').count() > 1 {
            return false;
        }
        let unit = ["ns", "us", "µs", "μs", "ms", "s", "m", "h"]
            .into_iter()
            .filter(|u| tail.starts_with(u))
            .max_by_key(|u| u.len());
        let Some(unit) = unit else {
            return false;
        };
        rest = &tail[unit.len()..];
        any = true;
    }
    any
}

fn word_duration(s: &str) -> bool {
    const UNITS: [&str; 19] = [
        "ns", "nano", "us", "µs", "micro", "ms", "milli", "s", "sec", "m", "min", "h", "hr",
        "hour", "d", "day", "w", "wk", "week",
    ];
    let s = s.trim();
    let number = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(s.len());
    let (value, unit) = s.split_at(number);
    let unit = unit.trim_start();
    !value.is_empty()
        && value.trim_start_matches('-').parse::<f64>().is_ok()
        && !unit.is_empty()
        && unit.chars().all(|c| c.is_alphabetic())
        && UNITS.iter().any(|u| unit.starts_with(u))
}

fn is_base64(s: &str) -> bool {
    let b64 = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    let bytes = s.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
        return false;
    }
    let (body, last) = bytes.split_at(bytes.len() - 4);
    body.iter().all(|b| b64(*b))
        && match last {
            [a, b, b'=', b'='] => b64(*a) && b64(*b),
            [a, b, c, b'='] => b64(*a) && b64(*b) && b64(*c),
            quad => quad.iter().all(|b| b64(*b)),
        }
}

fn is_uuid(s: &str, version: Option<u8>) -> bool {
    let hex: Vec<u8> = s.bytes().filter(|b| *b != b'-').collect();
    let dashes_ok = s.len() == 32
        || (s.len() == 36 && [8, 13, 18, 23].iter().all(|i| s.as_bytes()[*i] == b'-'));
    if !(dashes_ok && hex.len() == 32 && hex.iter().all(u8::is_ascii_hexdigit)) {
        return false;
    }
    match version {
        None => true,
        Some(v @ b'3') => hex[12] == v,
        Some(v) => {
            hex[12] == v && matches!(hex[16].to_ascii_lowercase(), b'8' | b'9' | b'a' | b'b')
        }
    }
}

/// An address as Go's `net/mail.ParseAddress` reads one: `local@domain`, optionally as
/// `Display Name <local@domain>`.
fn is_email(s: &str) -> bool {
    let s = s.trim();
    let address = match (s.rfind('<'), s.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        _ => s,
    };
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    let atext = |c: char| {
        c.is_alphanumeric()
            || "!#$%&'*+-/=?^_`{|}~".contains(c)
            || !c.is_ascii() && !c.is_control() && !c.is_whitespace()
    };
    let dot_atom = |t: &str| {
        !t.is_empty()
            && t.split('.')
                .all(|part| !part.is_empty() && part.chars().all(atext))
    };
    let local_ok = dot_atom(local)
        || (local.len() >= 2
            && local.starts_with('"')
            && local.ends_with('"')
            && !local[1..local.len() - 1].contains(['"', '\\']));
    let domain_ok = dot_atom(domain) || (domain.starts_with('[') && domain.ends_with(']'));
    local_ok && domain_ok
}

/// The API server's hostname rule (RFC 1034, with RFC 1123's leading digits and Unicode
/// letters and symbols): either one label (at most one hyphen, right after its first
/// character) or dotted labels ending in a top-level domain of 2–63 letters; 255 characters,
/// 63 per label at most.
fn is_hostname(s: &str) -> bool {
    fn x(c: char) -> bool {
        c.is_ascii_alphanumeric()
            || (!c.is_ascii() && (c.is_alphabetic() || is_symbol(c)))
            || "$+<=>^`|~".contains(c)
    }
    fn letter(c: char) -> bool {
        c.is_ascii_alphabetic() || (!c.is_ascii() && c.is_alphabetic())
    }
    fn is_symbol(c: char) -> bool {
        !c.is_alphanumeric()
            && !c.is_whitespace()
            && !c.is_control()
            && !matches!(c, '.' | '-' | '_')
    }
    if s.len() > 255 || s.split('.').any(|label| label.len() > 63) {
        return false;
    }
    let single = |label: &str| {
        let mut chars = label.chars();
        let Some(first) = chars.next() else {
            return false;
        };
        let rest: String = chars.collect();
        let rest = rest.strip_prefix('-').unwrap_or(&rest);
        x(first) && rest.chars().count() <= 62 && rest.chars().all(x)
    };
    let labels: Vec<&str> = s.split('.').collect();
    if labels.len() == 1 {
        return single(s);
    }
    let (tld, inner) = labels.split_last().expect("two labels or more");
    let tld_len = tld.chars().count();
    let tld_ok = (2..=63).contains(&tld_len) && tld.chars().all(letter);
    let label_ok = |label: &&str| {
        let chars: Vec<char> = label.chars().collect();
        match chars.as_slice() {
            [] => false,
            [only] => x(*only),
            [first, middle @ .., last] => {
                x(*first)
                    && x(*last)
                    && middle.len() <= 61
                    && middle.iter().all(|c| x(*c) || *c == '-')
            }
        }
    };
    tld_ok && inner.iter().all(label_ok)
}

/// Dotted quads, tolerating leading zeros as Kubernetes does for compatibility.
fn sloppy_ipv4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|v| v <= 255)
        })
}

fn is_ipv4(s: &str) -> bool {
    // Any address Go parses, written with a dot (an IPv4-mapped IPv6 address counts).
    s.contains('.') && (sloppy_ipv4(s) || s.parse::<std::net::Ipv6Addr>().is_ok())
}

fn is_ipv6(s: &str) -> bool {
    s.contains(':') && s.parse::<std::net::Ipv6Addr>().is_ok()
}

fn is_cidr(s: &str) -> bool {
    let Some((address, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    if !bits.to_string().eq(s.split_once('/').map_or("", |p| p.1)) {
        return false;
    }
    (sloppy_ipv4(address) && bits <= 32)
        || (address.parse::<std::net::Ipv6Addr>().is_ok() && bits <= 128)
}

/// MAC-48, EUI-64 and 20-byte InfiniBand addresses, as `net.ParseMAC` reads them: pairs of
/// hexadecimal digits separated by `:` or `-`, or groups of four separated by `.`.
fn is_mac(s: &str) -> bool {
    let sizes = [6, 8, 20];
    for separator in [':', '-'] {
        let parts: Vec<&str> = s.split(separator).collect();
        if sizes.contains(&parts.len())
            && parts
                .iter()
                .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return true;
        }
    }
    let groups: Vec<&str> = s.split('.').collect();
    sizes.contains(&(groups.len() * 2))
        && groups
            .iter()
            .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Go's `url.ParseRequestURI`: an absolute URI (`scheme:…`) or an absolute path.
fn is_request_uri(s: &str) -> bool {
    if s.is_empty() || s.chars().any(|c| c.is_control()) {
        return false;
    }
    if s.starts_with('/') {
        return true;
    }
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok || rest.is_empty() {
        return false;
    }
    match rest.strip_prefix("//") {
        Some(after) => {
            let authority = after.split(['/', '?', '#']).next().unwrap_or_default();
            let host = authority.rsplit('@').next().unwrap_or_default();
            let port_ok = match host.rsplit_once(':') {
                Some((_, port)) if !host.ends_with(']') => port.bytes().all(|b| b.is_ascii_digit()),
                _ => true,
            };
            !host.contains(' ') && port_ok
        }
        None => true,
    }
}

fn is_hex_color(s: &str) -> bool {
    let hex = s.strip_prefix('#').unwrap_or(s);
    matches!(hex.len(), 3 | 6) && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_rgb_color(s: &str) -> bool {
    let Some(inner) = s.strip_prefix("rgb(").and_then(|r| r.strip_suffix(')')) else {
        return false;
    };
    let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && !(p.len() > 1 && p.starts_with('0'))
                && p.parse::<u16>().is_ok_and(|v| v <= 255)
        })
}

/// ISBN digits with the separators (`-`, spaces) removed.
fn isbn_digits(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(|b| *b != b'-' && !b.is_ascii_whitespace())
        .collect()
}

/// Nine digits and a check digit (or `X`): the digits weighted 10 down to 1 sum to a
/// multiple of 11.
fn is_isbn10(s: &str) -> bool {
    let d = isbn_digits(s);
    if d.len() != 10 || !d[..9].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let check = match d[9] {
        b'X' => 10,
        b if b.is_ascii_digit() => u32::from(b - b'0'),
        _ => return false,
    };
    let sum: u32 = d[..9]
        .iter()
        .zip((2..=10).rev())
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum::<u32>()
        + check;
    sum.is_multiple_of(11)
}

/// Thirteen digits: weighted 1, 3, 1, 3 … the last makes the sum a multiple of 10.
fn is_isbn13(s: &str) -> bool {
    let d = isbn_digits(s);
    d.len() == 13
        && d.iter().all(u8::is_ascii_digit)
        && d.iter()
            .enumerate()
            .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
            .sum::<u32>()
            .is_multiple_of(10)
}

/// The digits (anything else is ignored) of a Visa, MasterCard, Discover, American Express,
/// Diners Club or JCB number, passing the Luhn check.
fn is_credit_card(s: &str) -> bool {
    let d: Vec<u8> = s
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    let starts = |prefix: &[u8]| d.starts_with(prefix);
    let in_range = |lo: u32, hi: u32, n: usize| {
        d.len() >= n && {
            let p = d[..n].iter().fold(0u32, |acc, x| acc * 10 + u32::from(*x));
            (lo..=hi).contains(&p)
        }
    };
    let issuer = match d.len() {
        13 => starts(&[4]),
        14 => in_range(300, 305, 3) || starts(&[3, 6]) || starts(&[3, 8]),
        15 => starts(&[3, 4]) || starts(&[3, 7]) || starts(&[2, 1, 3, 1]) || starts(&[1, 8, 0, 0]),
        16 => {
            starts(&[4])
                || in_range(51, 55, 2)
                || starts(&[6, 0, 1, 1])
                || starts(&[6, 5])
                || starts(&[3, 5])
        }
        _ => false,
    };
    let luhn = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, x)| {
            let x = u32::from(*x);
            if i % 2 == 1 {
                let doubled = x * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                x
            }
        })
        .sum::<u32>()
        .is_multiple_of(10);
    issuer && luhn
}

/// `123-45-6789` or `123 45 6789`: eleven characters, as the API server's check requires.
fn is_ssn(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |part: &[u8]| part.iter().all(u8::is_ascii_digit);
    let sep = |c: u8| c == b'-' || c == b' ';
    b.len() == 11
        && digits(&b[..3])
        && sep(b[3])
        && digits(&b[4..6])
        && sep(b[6])
        && digits(&b[7..])
}

#[cfg(test)]
mod tests {
    use super::check;

    /// (format, accepted, refused): values the API server accepts and refuses.
    const CASES: &[(&str, &[&str], &[&str])] = &[
        (
            "date-time",
            &[
                "2026-11-30T17:00:00Z",
                "2026-11-30T17:00:00.123+01:00",
                "2026-11-30 17:00:00",
                "2026-11-30T17:00Z",
            ],
            &[
                "tomorrow",
                "2026-11-31T17:00:00Z",
                "2026-11-30T25:00:00Z",
                "2026-11-30",
            ],
        ),
        (
            "date",
            &["2024-02-29", "2026-01-01"],
            &["2026-02-29", "26-01-01", "2026-1-1", "tomorrow"],
        ),
        (
            "duration",
            &["1h30m", "-1.5h", "300ms", "0", "3 weeks", "1 day"],
            &["", "1", "1x", "h", "soon"],
        ),
        (
            "byte",
            &["aGVsbG8=", "aGVsbA==", "aGVs"],
            &["aGVsbG8", "!!!!", ""],
        ),
        (
            "uuid",
            &[
                "123e4567-e89b-12d3-a456-426614174000",
                "123E4567E89B12D3A456426614174000",
            ],
            &["123e4567-e89b-12d3-a456", "not-a-uuid"],
        ),
        (
            "uuid4",
            &["123e4567-e89b-42d3-a456-426614174000"],
            &["123e4567-e89b-12d3-a456-426614174000"],
        ),
        (
            "email",
            &["team@example.com", "Team A <team-a@example.com>"],
            &["team", "@example.com", "a b@example.com"],
        ),
        (
            "hostname",
            &["example.com", "db-1.eu.example.com", "localhost", "a-b"],
            &[
                "-example.com",
                "example.c",
                "my-db-host",
                "a..b",
                "ex ample.com",
            ],
        ),
        (
            "ipv4",
            &["192.0.2.10", "010.0.0.1"],
            &["256.0.0.1", "1.2.3", "::1"],
        ),
        (
            "ipv6",
            &["2001:db8::10", "::1", "::ffff:192.0.2.1"],
            &["192.0.2.1", "2001:db8::g"],
        ),
        (
            "cidr",
            &["10.0.0.0/16", "2001:db8::/32"],
            &["10.0.0.0", "10.0.0.0/33", "10.0.0.0/x"],
        ),
        (
            "mac",
            &["02:42:ac:11:00:02", "02-42-ac-11-00-02", "0242.ac11.0002"],
            &["02:42:ac:11:00", "zz:42:ac:11:00:02"],
        ),
        (
            "uri",
            &[
                "https://example.com/path?q=1",
                "/absolute/path",
                "mailto:team@example.com",
            ],
            &["relative/path", "tomorrow", "http://exa mple.com/"],
        ),
        ("hexcolor", &["#1e90ff", "fff"], &["#12345", "#ggg"]),
        (
            "rgbcolor",
            &["rgb(30,144,255)", "rgb( 0 , 0 , 0 )"],
            &["rgb(256,0,0)", "rgb(1,2)"],
        ),
        ("password", &["anything at all"], &[]),
        (
            "isbn10",
            &["0321751043", "0-321-75104-3", "080442957X"],
            &["0321751044", "032175104", "03217510X3"],
        ),
        (
            "isbn13",
            &["978-0321751041", "9780321751041"],
            &["978-0321751042", "97803217510411"],
        ),
        ("isbn", &["0321751043", "978-0321751041"], &["12345"]),
        (
            "creditcard",
            &[
                "4111 1111 1111 1111",
                "5500-0000-0000-0004",
                "378282246310005",
            ],
            &["4111 1111 1111 1112", "1234 5678 9012 3456", "4111"],
        ),
        (
            "ssn",
            &["123-45-6789", "123 45 6789"],
            &["123456789", "123-456-789", "12-345-6789", "abc-de-fghi"],
        ),
    ];

    #[test]
    fn each_validated_format_accepts_and_refuses_what_the_api_server_does() {
        for (format, accepted, refused) in CASES {
            for value in *accepted {
                assert_eq!(check(format, value), None, "{format}: {value:?} must pass");
            }
            for value in *refused {
                assert!(
                    check(format, value).is_some(),
                    "{format}: {value:?} must be refused"
                );
            }
        }
    }

    #[test]
    fn formats_the_api_server_does_not_know_are_not_checked() {
        assert_eq!(check("int32", "x"), None);
        assert_eq!(check("my-own-format", "anything"), None);
    }
}
