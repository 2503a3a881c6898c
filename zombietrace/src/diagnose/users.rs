//! uid → user name, from /etc/passwd (no NSS: a uid without a line shows as its number).

use std::collections::HashMap;

use crate::sys::text::lossless;

#[derive(Debug, Default)]
pub struct Users(HashMap<u32, String>);

impl Users {
    pub fn load() -> Self {
        Users::parse(&std::fs::read("/etc/passwd").unwrap_or_default())
    }

    pub fn parse(passwd: &[u8]) -> Self {
        let mut names = HashMap::new();
        for line in passwd.split(|&b| b == b'\n') {
            let mut fields = line.split(|&b| b == b':');
            if let (Some(name), Some(_), Some(uid)) = (fields.next(), fields.next(), fields.next())
                && let Some(uid) = std::str::from_utf8(uid).ok().and_then(|u| u.parse().ok())
            {
                names.entry(uid).or_insert_with(|| lossless(name));
            }
        }
        Users(names)
    }

    pub fn name(&self, uid: u32) -> String {
        self.0.get(&uid).cloned().unwrap_or_else(|| uid.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_users() {
        let users = Users::parse(
            b"root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/a:/bin/sh\nbad line\ntoor:x:0:0::/:/bin/sh\n\xff\x1b:x:7:7::/:/bin/sh\n",
        );
        assert_eq!(users.name(0), "root");
        assert_eq!(users.name(1000), "alice");
        assert_eq!(users.name(4242), "4242");
        assert_eq!(users.name(7), "\\xff\x1b");
    }
}
