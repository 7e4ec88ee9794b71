//! Success bodies, written straight into one String: a 1,000-record page must render fast.

use std::fmt::Write as _;

use super::dataset::{Dataset, Entry, PageInfo};
use super::{Config, LinkLocation, MessageCount, MetaLocation, Pagination, Shape};

/// Where the pagination members go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Top,
    Data,
    Meta,
    Links,
}

/// Renders the envelope of one page; `next` is the next page's URL, if there is one.
pub(super) fn page(data: &Dataset, info: &PageInfo, cfg: &Config, next: Option<&str>) -> String {
    let mut out = String::with_capacity(256 + info.entries.len() * 256);
    out.push_str("{\"status\":200");
    match cfg.message_count {
        MessageCount::Real => {
            let _ = write!(out, ",\"message\":\"Groups found: {}\"", info.total);
        }
        MessageCount::Fixed(n) => {
            let _ = write!(out, ",\"message\":\"Groups found: {n}\"");
        }
        MessageCount::Omit => {}
    }
    let (place, members) = match pagination_members(info, cfg, next) {
        Some((Place::Data, m)) if cfg.shape == Shape::DataArray => (Some(Place::Top), m),
        Some((place, m)) => (Some(place), m),
        None => (None, String::new()),
    };
    out.push_str(",\"data\":");
    if cfg.shape == Shape::DataArray {
        write_array(&mut out, data, &info.entries);
    } else {
        out.push_str("{\"groups\":");
        write_groups(&mut out, data, info, cfg.shape);
        if place == Some(Place::Data) {
            out.push(',');
            out.push_str(&members);
        }
        out.push('}');
    }
    match place {
        Some(Place::Top) => {
            out.push(',');
            out.push_str(&members);
        }
        Some(Place::Meta) => {
            let _ = write!(out, ",\"meta\":{{{members}}}");
        }
        Some(Place::Links) => {
            let _ = write!(out, ",\"links\":{{{members}}}");
        }
        Some(Place::Data) | None => {}
    }
    out.push('}');
    out
}

/// The members (comma-separated, no braces) that say whether the result goes on, and where
/// they belong; `None` under `Pagination::None`.
fn pagination_members(
    info: &PageInfo,
    cfg: &Config,
    next: Option<&str>,
) -> Option<(Place, String)> {
    let next_json = match next {
        Some(url) => serde_json::to_string(url).unwrap_or_else(|_| "null".into()),
        None => "null".into(),
    };
    match cfg.pagination {
        Pagination::None => None,
        Pagination::NextUrl { location, .. } => {
            let (place, name) = match location {
                LinkLocation::TopLevel => (Place::Top, "next_page_url"),
                LinkLocation::InData => (Place::Data, "next_page_url"),
                LinkLocation::InMeta => (Place::Meta, "next_page_url"),
                LinkLocation::LinksNext => (Place::Links, "next"),
            };
            Some((place, format!("\"{name}\":{next_json}")))
        }
        Pagination::Numbered { location } => {
            let place = match location {
                MetaLocation::TopLevel => Place::Top,
                MetaLocation::InData => Place::Data,
                MetaLocation::InMeta => Place::Meta,
            };
            let per_page = if cfg.per_page == 0 {
                info.total
            } else {
                cfg.per_page
            };
            let members = format!(
                "\"current_page\":{},\"last_page\":{},\"per_page\":{per_page},\"total\":{}",
                info.page, info.last_page, info.total
            );
            Some((place, members))
        }
    }
}

fn write_groups(out: &mut String, data: &Dataset, info: &PageInfo, shape: Shape) {
    match (shape, info.entries.first()) {
        (Shape::Single, Some(first)) => data.write_entry(out, *first),
        (Shape::ObjectMap, Some(_)) => {
            out.push('{');
            for (i, entry) in info.entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "\"{}\":", info.first_index + i);
                data.write_entry(out, *entry);
            }
            out.push('}');
        }
        // PHP encodes an empty array as `[]` whatever the shape.
        _ => write_array(out, data, &info.entries),
    }
}

fn write_array(out: &mut String, data: &Dataset, entries: &[Entry]) {
    out.push('[');
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        data.write_entry(out, *entry);
    }
    out.push(']');
}
