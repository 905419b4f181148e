//! What a correct reply is: the bytes upper-cased (the tutorial's server) or unchanged (a plain echo, RFC 862).
//! One definition for every place that checks replies: the oracles (a scenario's `[server] reply`), the
//! black-box properties and the load engine.

/// What the server under test does to the bytes it echoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transform {
    /// ASCII a-z upper-cased, every other byte unchanged, as Python's `bytes.upper()` (the tutorial's server).
    #[default]
    Upper,
    /// The bytes unchanged (RFC 862 Echo Protocol).
    Identity,
}

impl Transform {
    /// The reply owed to `message`.
    pub fn apply(self, message: &[u8]) -> Vec<u8> {
        match self {
            Transform::Upper => crate::sut::server::upper(message),
            Transform::Identity => message.to_vec(),
        }
    }

    /// What the echo of one byte must be.
    pub fn byte(self, byte: u8) -> u8 {
        match self {
            Transform::Upper => byte.to_ascii_uppercase(),
            Transform::Identity => byte,
        }
    }

    /// Its name in flags and files: `upper` or `identity`.
    pub fn name(self) -> &'static str {
        match self {
            Transform::Upper => "upper",
            Transform::Identity => "identity",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Transform;

    #[test]
    fn the_reply_and_the_byte_agree() {
        let message = b"Hello, stra\xc3\x9fe 123 \x00\xff";
        for t in [Transform::Upper, Transform::Identity] {
            let each: Vec<u8> = message.iter().map(|b| t.byte(*b)).collect();
            assert_eq!(t.apply(message), each, "{}", t.name());
        }
        assert_eq!(Transform::Upper.apply(b"abc"), b"ABC");
        assert_eq!(Transform::Identity.apply(b"abc"), b"abc");
    }
}
