//! `%` specifiers of unit files (systemd.unit(5), "Specifiers"), for a system unit that is not
//! a template, as the system service manager resolves them.
//!
//! Only the specifiers whose value follows from the unit and from a system manager are
//! resolved; those that need the running node (host name, machine and boot id, kernel and OS
//! release, architecture, credentials directory) are reported as unknown, and so is any letter
//! systemd does not define.

/// What the specifiers of one unit resolve to.
#[derive(Clone, Debug)]
pub struct Context<'a> {
    /// `docker.service`
    pub unit: &'a str,
    /// The fragment's path on the node (`/lib/systemd/system/docker.service`).
    pub fragment: &'a str,
}

impl Context<'_> {
    fn value(&self, letter: char) -> Result<String, String> {
        let prefix = self
            .unit
            .rsplit_once('.')
            .map_or(self.unit, |(prefix, _)| prefix);
        Ok(match letter {
            '%' => "%".to_string(),
            'n' => self.unit.to_string(),
            'N' | 'p' | 'P' | 'j' | 'J' => prefix.to_string(),
            'i' | 'I' => String::new(),
            'f' => format!("/{prefix}"),
            'y' => self.fragment.to_string(),
            'Y' => self
                .fragment
                .rsplit_once('/')
                .map_or_else(|| "/".to_string(), |(dir, _)| dir.to_string()),
            't' => "/run".to_string(),
            'S' => "/var/lib".to_string(),
            'C' => "/var/cache".to_string(),
            'L' => "/var/log".to_string(),
            'E' => "/etc".to_string(),
            'T' => "/tmp".to_string(),
            'V' => "/var/tmp".to_string(),
            // The system manager runs as root.
            'u' | 'g' => "root".to_string(),
            'U' | 'G' => "0".to_string(),
            'h' => "/root".to_string(),
            's' => "/bin/sh".to_string(),
            'H' | 'l' | 'q' => return Err(format!("`%{letter}` (the node's host name)")),
            'm' => return Err("`%m` (the node's machine id)".to_string()),
            'b' => return Err("`%b` (the boot id)".to_string()),
            'v' => return Err("`%v` (the running kernel's release)".to_string()),
            'a' => return Err("`%a` (the node's architecture)".to_string()),
            'o' | 'w' | 'W' | 'B' | 'A' | 'M' => {
                return Err(format!("`%{letter}` (from the node's os-release)"));
            }
            'd' => return Err("`%d` (the credentials directory)".to_string()),
            other => return Err(format!("`%{other}`, which systemd does not define")),
        })
    }

    /// The text with every specifier resolved; `Err` names the first one stigfix cannot
    /// resolve.
    pub fn expand(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some(letter) => out.push_str(&self.value(letter)?),
                None => return Err("a `%` at the end of the value".to_string()),
            }
        }
        Ok(out)
    }
}

/// `%` written as `%%`, so that systemd reads the text back unchanged.
pub fn escape(text: &str) -> String {
    text.replace('%', "%%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_what_a_system_unit_knows_and_names_the_rest() {
        let context = Context {
            unit: "docker.service",
            fragment: "/lib/systemd/system/docker.service",
        };
        assert_eq!(
            context.expand("%t/docker.sock %n %N %p 100%% %Y").unwrap(),
            "/run/docker.sock docker.service docker docker 100% /lib/systemd/system"
        );
        assert_eq!(
            context.expand("tcp://%H:2376").unwrap_err(),
            "`%H` (the node's host name)"
        );
        assert_eq!(
            context.expand("%Z").unwrap_err(),
            "`%Z`, which systemd does not define"
        );
        assert!(context.expand("50%").is_err());
        assert_eq!(escape("a%b"), "a%%b");
    }
}
