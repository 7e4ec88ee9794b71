//! Enums stored as text columns (`sync_runs.trigger`, `.mode`, `.status`, `sync_log.level`,
//! `customer_group_history.change`): bound as values of their own type, so no statement
//! spells a status as a string, while `as_str` stays the one place each text is written (it
//! is also what logs and `status` print).

/// Implements sqlx's `Type` and `Encode`, for SQLite and PostgreSQL, for enums with
/// `as_str(&self)`.
macro_rules! text_column {
    ($($enum:ty),+ $(,)?) => {$(
        impl sqlx::Type<sqlx::Sqlite> for $enum {
            fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
                <&str as sqlx::Type<sqlx::Sqlite>>::type_info()
            }
        }

        impl<'q> sqlx::Encode<'q, sqlx::Sqlite> for $enum {
            fn encode_by_ref(
                &self,
                buf: &mut Vec<sqlx::sqlite::SqliteArgumentValue<'q>>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'q, sqlx::Sqlite>>::encode(self.as_str(), buf)
            }
        }

        impl sqlx::Type<sqlx::Postgres> for $enum {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }
        }

        impl sqlx::Encode<'_, sqlx::Postgres> for $enum {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'_, sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }
    )+};
}

text_column!(
    crate::domain::Trigger,
    crate::domain::Mode,
    crate::domain::RunStatus,
    super::Level,
);
