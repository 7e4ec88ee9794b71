//! PostgreSQL's `COPY … FROM STDIN` for the rows a page inserts: the server parses one stream
//! of text instead of thousands of bound parameters, several times faster than a multi-row
//! `INSERT`. It runs inside the page's transaction like any statement, so a page stays
//! atomic, and a duplicate key fails it the same way (the first-load fallback relies on it).

use sqlx::postgres::PgConnection;

/// Rows in COPY's text format: tab-separated, `\N` for NULL, backslash escapes.
#[derive(Default)]
pub(super) struct CopyRows {
    text: Vec<u8>,
    at_row_start: bool,
}

impl CopyRows {
    pub(super) fn new() -> CopyRows {
        CopyRows {
            text: Vec::new(),
            at_row_start: true,
        }
    }

    fn separate(&mut self) {
        if !self.at_row_start {
            self.text.push(b'\t');
        }
        self.at_row_start = false;
    }

    pub(super) fn text(&mut self, value: Option<&str>) -> &mut CopyRows {
        self.separate();
        let Some(value) = value else {
            self.text.extend_from_slice(b"\\N");
            return self;
        };
        for &byte in value.as_bytes() {
            match byte {
                b'\\' => self.text.extend_from_slice(b"\\\\"),
                b'\t' => self.text.extend_from_slice(b"\\t"),
                b'\n' => self.text.extend_from_slice(b"\\n"),
                b'\r' => self.text.extend_from_slice(b"\\r"),
                other => self.text.push(other),
            }
        }
        self
    }

    pub(super) fn int(&mut self, value: Option<i64>) -> &mut CopyRows {
        match value {
            Some(n) => {
                self.separate();
                self.text.extend_from_slice(n.to_string().as_bytes());
                self
            }
            None => self.text(None),
        }
    }

    pub(super) fn end_row(&mut self) {
        self.text.push(b'\n');
        self.at_row_start = true;
    }

    /// Sends the rows with `statement` (`COPY table (columns) FROM STDIN`); the rows copied.
    pub(super) async fn send(
        self,
        conn: &mut PgConnection,
        statement: &str,
    ) -> Result<u64, sqlx::Error> {
        if self.text.is_empty() {
            return Ok(0);
        }
        let mut copy = conn.copy_in_raw(statement).await?;
        if let Err(e) = copy.send(self.text).await {
            let _ = copy.abort("the rows could not be sent").await;
            return Err(e);
        }
        copy.finish().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_nulls_spelled_as_copy_reads_them() {
        let mut rows = CopyRows::new();
        rows.int(Some(7))
            .text(Some("a\tb\\c\nd\re"))
            .text(None)
            .int(None);
        rows.end_row();
        rows.int(Some(-1)).text(Some("{\"x\":\"\\u00e9\"}"));
        rows.end_row();
        assert_eq!(
            String::from_utf8(rows.text).unwrap(),
            "7\ta\\tb\\\\c\\nd\\re\t\\N\t\\N\n-1\t{\"x\":\"\\\\u00e9\"}\n"
        );
    }
}
