//! How names are made: snake case for methods, singular parents for nested resources, titles.

/// `apps_validate_appSpec` → `apps_validate_app_spec`; `invoices_get_csvByUUID` →
/// `invoices_get_csv_by_uuid`; `sshKeys_list` → `ssh_keys_list`. Runs of capitals are one word.
pub fn snake_case(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c == '-' || c == ' ' || c == '.' {
            out.push('_');
            continue;
        }
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1);
            let starts_word = match prev {
                None | Some('_') => false,
                Some(p) if p.is_lowercase() || p.is_ascii_digit() => true,
                // The last capital of a run that a lowercase letter follows starts a word
                // (`HTTPServer`), unless the lowercase letter belongs to the acronym: a plural
                // `IPs`, or `IPv6`.
                Some(p) if p.is_uppercase() => {
                    let after = chars.get(i + 2);
                    let plural = next == Some(&'s') && !after.is_some_and(|a| a.is_lowercase());
                    let versioned = after.is_some_and(char::is_ascii_digit);
                    next.is_some_and(|n| n.is_lowercase()) && !plural && !versioned
                }
                _ => false,
            };
            if starts_word && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `droplets` → `droplet`, `policies` → `policy`, `addresses` → `address`, `ips` → `ip`;
/// a word that is not plural is returned as it is.
pub fn singular(word: &str) -> String {
    let w = word;
    if let Some(stem) = w.strip_suffix("ies") {
        return format!("{stem}y");
    }
    for ending in ["sses", "shes", "ches", "xes", "zes"] {
        if w.ends_with(ending) {
            return w[..w.len() - 2].to_string();
        }
    }
    if w.ends_with("ss") || w.ends_with("us") || w.ends_with("is") {
        return w.to_string();
    }
    w.strip_suffix('s').unwrap_or(w).to_string()
}

/// `droplet_actions` → `Droplet Actions`.
pub fn title(name: &str) -> String {
    name.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A path segment as part of a name: `gen-ai` → `gen_ai`, lower case, letters, digits and `_`
/// only (`<upload_url>` → `upload_url`).
pub fn segment(s: &str) -> String {
    let snake: String = snake_case(s)
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    snake.trim_matches('_').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_become_snake_case() {
        assert_eq!(
            snake_case("apps_validate_appSpec"),
            "apps_validate_app_spec"
        );
        assert_eq!(
            snake_case("invoices_get_csvByUUID"),
            "invoices_get_csv_by_uuid"
        );
        assert_eq!(snake_case("sshKeys_list"), "ssh_keys_list");
        assert_eq!(
            snake_case("reservedIPv6Actions_post"),
            "reserved_ipv6_actions_post"
        );
        assert_eq!(
            snake_case("floatingIPsAction_post"),
            "floating_ips_action_post"
        );
        assert_eq!(snake_case("HTTPServer_get"), "http_server_get");
        assert_eq!(snake_case("droplets_list"), "droplets_list");
        assert_eq!(snake_case("gen-ai"), "gen_ai");
    }

    #[test]
    fn plurals_become_singular() {
        assert_eq!(singular("droplets"), "droplet");
        assert_eq!(singular("policies"), "policy");
        assert_eq!(singular("addresses"), "address");
        assert_eq!(singular("reserved_ips"), "reserved_ip");
        assert_eq!(singular("status"), "status");
        assert_eq!(singular("registry"), "registry");
    }

    #[test]
    fn titles() {
        assert_eq!(title("droplet_actions"), "Droplet Actions");
    }
}
