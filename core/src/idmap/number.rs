//! Strict decimal numbers and how bad input is quoted in errors, shared by
//! the ID map, subordinate ID, passwd and mount table parsers.

/// Why a field is not a number of the wanted type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumberError {
    /// Empty, or something other than ASCII digits (a sign, a space, a
    /// letter, a non-ASCII byte).
    NotDecimal,
    /// Digits only, but more than the type holds.
    TooLarge,
}

/// Parses ASCII digits only: no sign, no spaces, no radix prefix (leading
/// zeros are fine, as for the kernel). `str::parse` is not used because it
/// accepts a leading `+`.
pub(crate) fn parse_decimal<T: TryFrom<u64>>(bytes: &[u8]) -> Result<T, NumberError> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return Err(NumberError::NotDecimal);
    }
    let mut value: u64 = 0;
    for digit in bytes {
        value = value
            .checked_mul(10)
            .and_then(|value| value.checked_add(u64::from(digit - b'0')))
            .ok_or(NumberError::TooLarge)?;
    }
    T::try_from(value).map_err(|_| NumberError::TooLarge)
}

/// [`parse_decimal`] for a 32-bit ID or count.
pub(crate) fn parse_u32(bytes: &[u8]) -> Result<u32, NumberError> {
    parse_decimal(bytes)
}

/// At most this many characters of a bad field are quoted in an error.
const QUOTE_LIMIT: usize = 40;

/// `bytes` as text for an error message: invalid UTF-8 replaced, control
/// characters escaped, long input cut.
pub(crate) fn quote(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut quoted: String = text
        .chars()
        .take(QUOTE_LIMIT)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().nth(QUOTE_LIMIT).is_some() {
        quoted.push_str("...");
    }
    quoted
}

/// Splits `bytes` into lines at `\n`. A final `\n` ends the last line and
/// starts no new one. Lines are numbered from 1.
pub(crate) fn numbered_lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let lines = (!bytes.is_empty()).then(|| body.split(|&byte| byte == b'\n'));
    lines
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(index, line)| (index + 1, line))
}

/// The ASCII-whitespace-separated fields of `line`.
pub(crate) fn fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(u8::is_ascii_whitespace)
        .filter(|field| !field.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_only() {
        assert_eq!(parse_u32(b"0"), Ok(0));
        assert_eq!(parse_u32(b"007"), Ok(7));
        assert_eq!(parse_u32(b"4294967295"), Ok(u32::MAX));
        assert_eq!(parse_u32(b"4294967296"), Err(NumberError::TooLarge));
        assert_eq!(
            parse_u32(b"99999999999999999999"),
            Err(NumberError::TooLarge)
        );
        for bad in [&b""[..], b"+1", b"-1", b" 1", b"0x10", b"1e3", b"\xff"] {
            assert_eq!(parse_u32(bad), Err(NumberError::NotDecimal), "{bad:?}");
        }
    }

    #[test]
    fn sixty_four_bits_use_the_same_rules() {
        assert_eq!(parse_decimal::<u64>(b"4294967296"), Ok(1 << 32));
        assert_eq!(parse_decimal::<u64>(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            parse_decimal::<u64>(b"18446744073709551616"),
            Err(NumberError::TooLarge)
        );
        for bad in [&b""[..], b"+1", b"-1", b"1 "] {
            assert_eq!(
                parse_decimal::<u64>(bad),
                Err(NumberError::NotDecimal),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn lines_are_numbered_and_a_final_newline_adds_none() {
        let lines: Vec<_> = numbered_lines(b"a\n\nb\n").collect();
        assert_eq!(lines, vec![(1, &b"a"[..]), (2, &b""[..]), (3, &b"b"[..])]);
        assert_eq!(numbered_lines(b"").count(), 0);
        assert_eq!(
            numbered_lines(b"\n").collect::<Vec<_>>(),
            vec![(1, &b""[..])]
        );
        assert_eq!(numbered_lines(b"x").count(), 1);
    }

    #[test]
    fn quotes_are_short_and_escaped() {
        assert_eq!(quote(b"a\tb"), "a\\tb");
        assert_eq!(quote(b"\xff"), "\u{fffd}");
        assert_eq!(quote(&[b'9'; 50]), format!("{}...", "9".repeat(40)));
    }
}
