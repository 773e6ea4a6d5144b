//! Strict parsing of `/proc/<pid>/uid_map` and `gid_map` text.

use super::extent::IdExtent;
use super::map::{IdField, IdMap, IdMapError, IdMapProblem};
use super::number::{NumberError, fields, numbered_lines, parse_u32, quote};

impl IdMap {
    /// Parses a map as the kernel prints it (`%10u %10u %10u\n` per line) or
    /// as it is written (`inside outside count\n`): three decimal fields per
    /// line separated by ASCII whitespace, leading and trailing whitespace
    /// allowed, the final newline optional. Empty text is the empty map.
    ///
    /// Anything else is an error naming the first bad line: a blank line, a
    /// missing or extra field, a sign or any non-digit, a number above
    /// 4294967295, and every rule of [`IdMap::new`].
    pub fn parse(text: &str) -> Result<Self, IdMapError> {
        Self::parse_bytes(text.as_bytes())
    }

    /// [`IdMap::parse`] on raw bytes, as read from the file; bytes that are
    /// not ASCII digits or whitespace are an error, never a panic.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, IdMapError> {
        let mut map = IdMap::default();
        for (line, text) in numbered_lines(bytes) {
            let extent = parse_line(text).map_err(|problem| IdMapError::new(line, problem))?;
            map.push(line, extent)?;
        }
        Ok(map)
    }
}

fn parse_line(line: &[u8]) -> Result<IdExtent, IdMapProblem> {
    let parts: Vec<&[u8]> = fields(line).take(4).collect();
    match parts.len() {
        0 => return Err(IdMapProblem::BlankLine),
        3 => {}
        _ => {
            return Err(IdMapProblem::FieldCount {
                found: fields(line).count(),
            });
        }
    }
    let mut values = [0u32; 3];
    for ((value, text), field) in values.iter_mut().zip(&parts).zip(IdField::ALL) {
        *value = parse_u32(text).map_err(|error| {
            let text = quote(text);
            match error {
                NumberError::NotDecimal => IdMapProblem::NotANumber { field, text },
                NumberError::TooLarge => IdMapProblem::TooLarge { field, text },
            }
        })?;
    }
    let [inside, outside, count] = values;
    Ok(IdExtent::new(inside, outside, count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idmap::extent::IdSide;

    fn error(text: &str) -> IdMapError {
        IdMap::parse(text).unwrap_err()
    }

    #[test]
    fn parses_the_kernel_format() {
        let text = "         0       1000          1\n         1     100000      65536\n";
        let map = IdMap::parse(text).unwrap();
        assert_eq!(
            map.extents(),
            &[IdExtent::new(0, 1000, 1), IdExtent::new(1, 100000, 65536)]
        );
        assert_eq!(map.render_kernel(), text);
        assert_eq!(
            IdMap::parse(&map.render_for_write()).unwrap(),
            map,
            "the written form parses back"
        );
    }

    #[test]
    fn parses_the_initial_namespace() {
        let map = IdMap::parse("         0          0 4294967295\n").unwrap();
        assert_eq!(map.extents(), &[IdExtent::new(0, 0, u32::MAX)]);
    }

    #[test]
    fn empty_text_is_the_empty_map() {
        assert!(IdMap::parse("").unwrap().is_empty());
    }

    #[test]
    fn whitespace_around_and_between_fields_and_no_final_newline() {
        let map = IdMap::parse("\t0\t 1000  1 \r\n1 2000 1").unwrap();
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        assert_eq!(
            error("0 0 1\n\n").to_string(),
            "line 2: the line is blank; every line must be `inside outside count`"
        );
        assert_eq!(
            error("0 0 1\n1 1\n").to_string(),
            "line 2: expected 3 fields `inside outside count` separated by whitespace, found 2 field(s)"
        );
        assert_eq!(
            error("0 0 1 1 1 1").problem,
            IdMapProblem::FieldCount { found: 6 }
        );
        assert_eq!(
            error("0 +5 1").to_string(),
            "line 1: outside ID (field 2) `+5` is not a decimal number (digits only, no sign)"
        );
        assert_eq!(
            error("0 0 -1").problem,
            IdMapProblem::NotANumber {
                field: IdField::Count,
                text: "-1".into()
            }
        );
        assert_eq!(
            error("4294967296 0 1").to_string(),
            "line 1: inside ID (field 1) `4294967296` is larger than 4294967295"
        );
        assert_eq!(
            error("0,0,1").problem,
            IdMapProblem::FieldCount { found: 1 }
        );
        assert_eq!(error("0 0 0").problem, IdMapProblem::ZeroCount);
        assert_eq!(
            error("0 0 10\n5 100 1\n").problem,
            IdMapProblem::Overlap {
                side: IdSide::Inside,
                other_line: 1,
                extent: IdExtent::new(5, 100, 1),
                other: IdExtent::new(0, 0, 10),
            }
        );
        assert_eq!(error("0 4294967295 1").line, 1);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_an_error() {
        let error = IdMap::parse_bytes(b"0 0 1\n0 \xff 1\n").unwrap_err();
        assert_eq!(error.line, 2);
        assert!(matches!(
            error.problem,
            IdMapProblem::NotANumber {
                field: IdField::Outside,
                ..
            }
        ));
    }

    #[test]
    fn more_than_340_lines_are_refused_at_line_341() {
        let text: String = (0..400).map(|i| format!("{i} {i} 1\n")).collect();
        let error = IdMap::parse(&text).unwrap_err();
        assert_eq!(error.line, 341);
        assert_eq!(error.problem, IdMapProblem::TooManyExtents { max: 340 });
    }
}
