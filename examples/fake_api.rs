//! A local fake of the xtrakit customer-groups API, for trying the daemon without the real one.
//!
//! ```text
//! cargo run --example fake_api -- --groups 1000 --key dev-key --port 8080 --page-size 100 \
//!     --pagination next-url
//! XTRAKIT_API_KEY=dev-key cargo run -- --once --base-url http://127.0.0.1:8080
//! ```
//!
//! Runs until Ctrl-C. The control endpoints it prints change the data or queue faults while
//! it runs, so a newcomer can watch the daemon react to updates, deletions and errors.

#[path = "../tests/support/fake_api/mod.rs"]
mod fake_api;

use clap::{Parser, ValueEnum};

use fake_api::{FakeApi, FakeOptions, LinkLocation, MessageCount, MetaLocation, Pagination, Shape};

/// The control endpoints and fault kinds, in `--help` and in the banner.
const CONTROL_HELP: &str = "\
Control endpoints (no auth), while it runs:
  POST /_fake/generate?n=1000         add generated groups
  POST /_fake/update?count=10         touch groups (or ?fraction=0.01)
  POST /_fake/delete?count=5          remove the highest ids
  POST /_fake/fault?kind=KIND&times=N queue a fault for the next N API requests
  POST /_fake/key?value=new-key       require another key (no value: any key)
  GET  /_fake/stats                   groups, requests and pending faults

Fault kinds (and their parameters):
  pass                    no fault (a request that passes, in a queue of faults)
  status                  an HTTP error: status=500 (default), body=, retry_after=
  body401                 HTTP 200 whose body says status 401: error=
  slow                    answer after ms=5000
  html                    an HTML error page: status=502
  invalid-json            a body that is not JSON
  truncated               a body cut off mid-way
  oversized               a huge body: bytes=, content_length=true|false
  redirect                a redirect: location=

Stop it with Ctrl-C, or when started in the background with `&`: kill %1 (or kill PID,
the PID it prints).";

#[derive(Parser, Debug)]
#[command(
    about = "Serve a fake xtrakit customer-groups API on 127.0.0.1",
    after_help = CONTROL_HELP
)]
struct Args {
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Number of generated groups (ids 1..=N).
    #[arg(long, default_value_t = 100)]
    groups: usize,
    /// The API key to require; without it any Bearer token is accepted.
    #[arg(long)]
    key: Option<String>,
    /// Records per page; 0 serves everything in one response.
    #[arg(long, default_value_t = 0)]
    page_size: usize,
    #[arg(long, value_enum, default_value_t = PaginationArg::None)]
    pagination: PaginationArg,
    /// Where `next_page_url` goes (next-url pagination).
    #[arg(long, value_enum, default_value_t = LinkArg::Top)]
    link_location: LinkArg,
    /// Page links as "/api/..." instead of absolute URLs.
    #[arg(long)]
    relative_links: bool,
    /// Where `current_page`/`last_page` go (numbered pagination).
    #[arg(long, value_enum, default_value_t = MetaArg::Top)]
    meta_location: MetaArg,
    #[arg(long, value_enum, default_value_t = ShapeArg::Array)]
    shape: ShapeArg,
    /// Business codes assigned round robin, e.g. `1,2`.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    business_codes: Vec<i64>,
    /// Varies the generated timestamps.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Leave "Groups found: N" out of the message, as an API that does not count
    #[arg(long)]
    no_count: bool,
    /// Wait this many milliseconds before answering each API request, as a distant server.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PaginationArg {
    None,
    NextUrl,
    Numbered,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LinkArg {
    Top,
    Data,
    Meta,
    Links,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum MetaArg {
    Top,
    Data,
    Meta,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ShapeArg {
    Array,
    ObjectMap,
    Single,
    DataArray,
}

impl Args {
    fn options(&self) -> FakeOptions {
        let location = match self.link_location {
            LinkArg::Top => LinkLocation::TopLevel,
            LinkArg::Data => LinkLocation::InData,
            LinkArg::Meta => LinkLocation::InMeta,
            LinkArg::Links => LinkLocation::LinksNext,
        };
        let meta = match self.meta_location {
            MetaArg::Top => MetaLocation::TopLevel,
            MetaArg::Data => MetaLocation::InData,
            MetaArg::Meta => MetaLocation::InMeta,
        };
        let pagination = match self.pagination {
            PaginationArg::None => Pagination::None,
            PaginationArg::NextUrl => Pagination::NextUrl {
                location,
                absolute: !self.relative_links,
            },
            PaginationArg::Numbered => Pagination::Numbered { location: meta },
        };
        let shape = match self.shape {
            ShapeArg::Array => Shape::Array,
            ShapeArg::ObjectMap => Shape::ObjectMap,
            ShapeArg::Single => Shape::Single,
            ShapeArg::DataArray => Shape::DataArray,
        };
        FakeOptions {
            api_key: self.key.clone(),
            shape,
            pagination,
            per_page: self.page_size,
            business_codes: self.business_codes.clone(),
            port: self.port,
            groups: self.groups,
            seed: self.seed,
            message_count: if self.no_count {
                MessageCount::Omit
            } else {
                MessageCount::Real
            },
            latency: std::time::Duration::from_millis(self.latency_ms),
            ..FakeOptions::default()
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let fake = FakeApi::start(args.options()).await?;
    print_banner(&fake, &args);
    tokio::signal::ctrl_c().await?;
    println!("stopping after {} API requests", fake.request_count());
    fake.shutdown();
    Ok(())
}

fn print_banner(fake: &FakeApi, args: &Args) {
    let base = fake.base_url();
    let key = args.key.as_deref().unwrap_or("any-key");
    println!(
        "fake xtrakit API serving {} groups at {base}",
        fake.group_count()
    );
    println!(
        "  API:   GET {}  (Authorization: Bearer {key})",
        fake.api_url()
    );
    println!(
        "  try:   curl -H 'Authorization: Bearer {key}' '{}?page=1'",
        fake.api_url()
    );
    println!("  sync:  XTRAKIT_API_KEY={key} xtrakit-sync --once --base-url {base}");
    if matches!(args.pagination, PaginationArg::None) && args.page_size > 0 {
        println!("  note:  no pagination fields, so clients only ever see page 1");
    }
    println!("control endpoints (no auth):");
    println!("  curl -X POST '{base}/_fake/generate?n=1000'");
    println!("  curl -X POST '{base}/_fake/update?count=10'      (or ?fraction=0.01)");
    println!("  curl -X POST '{base}/_fake/delete?count=5'       (the highest ids)");
    println!("  curl -X POST '{base}/_fake/fault?kind=status&status=500&times=3'");
    println!(
        "       kinds: pass status body401 slow html invalid-json truncated oversized redirect \
         (fake_api --help lists their parameters)"
    );
    println!("  curl -X POST '{base}/_fake/key?value=new-key'    (no value: any key)");
    println!("  curl '{base}/_fake/stats'");
    println!(
        "Ctrl-C to stop; in the background: kill {} (or kill %1 in the same shell).",
        std::process::id()
    );
}
