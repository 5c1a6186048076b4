//! Traces for AWS X-Ray without a collector: our own spans (targets `markets_*`) become segment
//! documents, one per traced invocation or job, handed to an [`Exporter`] when the span that roots
//! the document closes (the edge's sends it to the X-Ray daemon over UDP: markets-lambda's
//! `xray_daemon`). No exporter crate, no extra connection, no background task.
//!
//! A span takes part only once [`start`] gave it (or an ancestor) a trace header, and only if that
//! header says `Sampled=1`: X-Ray (Lambda, or the local stack) decides, and an unsampled invocation
//! allocates nothing here. A started span is either a subsegment of the segment that called it
//! (Lambda's function segment, for an invocation) or a segment of its own in another trace (a job
//! that a request caused); every traced span under it is a nested subsegment of the same document.
//! [`current_header`] is what travels with work that continues elsewhere (an index job): the trace,
//! the current span as parent, the sampling decision.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tracing::span::{Attributes, Id};
use tracing::{Span, Subscriber};
use tracing_subscriber::Registry;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Where finished documents go, and the name of this function's own segments.
pub struct Exporter {
    pub service: String,
    pub export: Box<dyn Fn(Value) + Send + Sync>,
}

/// An X-Ray trace header: `Root=1-<time>-<id>;Parent=<16 hex>;Sampled=<0|1>` (as Lambda's
/// `_X_AMZN_TRACE_ID`, SQS's `AWSTraceHeader`, HTTP's `X-Amzn-Trace-Id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeader {
    pub root: String,
    pub parent: Option<String>,
    pub sampled: Option<bool>,
}

impl TraceHeader {
    /// The header in `text`, if it names a well-formed root.
    pub fn parse(text: &str) -> Option<Self> {
        let mut header = TraceHeader { root: String::new(), parent: None, sampled: None };
        for part in text.split(';') {
            match part.trim().split_once('=') {
                Some(("Root", root)) if is_trace_id(root) => header.root = root.to_owned(),
                Some(("Parent", parent)) if is_hex(parent, 16) => header.parent = Some(parent.to_owned()),
                Some(("Sampled", "1")) => header.sampled = Some(true),
                Some(("Sampled", "0")) => header.sampled = Some(false),
                _ => {}
            }
        }
        (!header.root.is_empty()).then_some(header)
    }

    /// A W3C `traceparent` (`00-<32 hex trace>-<16 hex parent>-<flags>`) as X-Ray writes it: the
    /// first 8 hex digits of the trace id are the epoch part.
    pub fn from_traceparent(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('-');
        let (_version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if !is_hex(trace, 32) || !is_hex(parent, 16) || trace.bytes().all(|b| b == b'0') {
            return None;
        }
        let sampled = u8::from_str_radix(flags, 16).ok().map(|flags| flags & 1 == 1);
        Some(TraceHeader { root: format!("1-{}-{}", &trace[..8], &trace[8..]), parent: Some(parent.into()), sampled })
    }

    pub fn is_sampled(&self) -> bool {
        self.sampled == Some(true)
    }
}

impl std::fmt::Display for TraceHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Root={}", self.root)?;
        if let Some(parent) = &self.parent {
            write!(f, ";Parent={parent}")?;
        }
        match self.sampled {
            Some(sampled) => write!(f, ";Sampled={}", u8::from(sampled)),
            None => Ok(()),
        }
    }
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_trace_id(text: &str) -> bool {
    let mut parts = text.split('-');
    parts.next() == Some("1")
        && parts.next().is_some_and(|time| is_hex(time, 8))
        && parts.next().is_some_and(|id| is_hex(id, 24))
        && parts.next().is_none()
}

/// How a started span sits in its trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Under the segment that invoked us (Lambda's function segment): a subsegment document.
    Subsegment,
    /// Work this function does for a trace it was not invoked in (a job): a segment of its own.
    Segment,
}

/// What the layer keeps of a traced span.
struct Traced {
    trace_id: String,
    id: String,
    sampled: bool,
    /// Set on a span [`start`] gave a header: it roots a document.
    root: Option<(Place, Option<String>)>,
    start_time: f64,
    /// The document's fields (`aws`, `annotations`, `http`, `fault`...), then its subsegments.
    fields: Map<String, Value>,
    subsegments: Vec<Value>,
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

fn new_id() -> String {
    format!("{:016x}", fastrand::u64(1..))
}

/// The layer that makes our spans documents for `exporter`.
pub(super) fn layer<S>(exporter: Exporter) -> impl Layer<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let own = tracing_subscriber::filter::filter_fn(|meta| meta.is_span() && meta.target().starts_with("markets_"))
        .with_max_level_hint(tracing::level_filters::LevelFilter::DEBUG);
    XrayLayer { exporter }.with_filter(own)
}

struct XrayLayer {
    exporter: Exporter,
}

impl<S> Layer<S> for XrayLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, _attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        // A span is traced when the nearest traced span above it is sampled.
        let trace_id = span.scope().skip(1).find_map(|above| {
            let extensions = above.extensions();
            extensions.get::<Traced>().map(|traced| traced.sampled.then(|| traced.trace_id.clone()))
        });
        if let Some(Some(trace_id)) = trace_id {
            span.extensions_mut().insert(Traced {
                trace_id,
                id: new_id(),
                sampled: true,
                root: None,
                start_time: now(),
                fields: Map::new(),
                subsegments: Vec::new(),
            });
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(traced) = span.extensions_mut().remove::<Traced>() else { return };
        if !traced.sampled {
            return;
        }
        let mut document = traced.fields;
        document.insert("name".into(), json!(span.name()));
        document.insert("id".into(), json!(traced.id));
        document.insert("start_time".into(), json!(traced.start_time));
        document.insert("end_time".into(), json!(now()));
        if !traced.subsegments.is_empty() {
            document.insert("subsegments".into(), Value::Array(traced.subsegments));
        }
        match traced.root {
            Some((place, parent)) => {
                document.insert("trace_id".into(), json!(traced.trace_id));
                if let Some(parent) = parent {
                    document.insert("parent_id".into(), json!(parent));
                }
                match place {
                    Place::Subsegment => {
                        document.insert("type".into(), json!("subsegment"));
                    }
                    Place::Segment => {
                        document.insert("name".into(), json!(self.exporter.service));
                        document.insert("origin".into(), json!("AWS::Lambda::Function"));
                        document.entry("annotations").or_insert_with(|| json!({}))["span"] = json!(span.name());
                    }
                }
                (self.exporter.export)(Value::Object(document));
            }
            None => {
                if let Some(above) = span.scope().skip(1).find(|above| above.extensions().get::<Traced>().is_some())
                    && let Some(parent) = above.extensions_mut().get_mut::<Traced>()
                {
                    parent.subsegments.push(Value::Object(document));
                }
            }
        }
    }
}

/// Runs `f` on what the layer keeps of `span`, if it is traced and sampled.
fn with_traced<T>(span: &Span, f: impl FnOnce(&mut Traced) -> T) -> Option<T> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let span = registry.span(id)?;
        let mut extensions = span.extensions_mut();
        extensions.get_mut::<Traced>().filter(|traced| traced.sampled).map(f)
    })
    .flatten()
}

/// Makes `span` (one of ours, not yet entered) the root of a document in `header`'s trace, at
/// `place`; sent when it closes if the header says sampled.
pub fn start(span: &Span, header: &TraceHeader, place: Place) {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let span = registry.span(id)?;
        span.extensions_mut().replace(Traced {
            trace_id: header.root.clone(),
            id: new_id(),
            sampled: header.is_sampled(),
            root: Some((place, header.parent.clone())),
            start_time: now(),
            fields: Map::new(),
            subsegments: Vec::new(),
        });
        Some(())
    });
}

/// The header that continues the trace `span` is in (with `span` as the parent), if it is in one;
/// an unsampled trace passes on its decision unchanged.
pub fn header_of(span: &Span) -> Option<TraceHeader> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let span = registry.span(id)?;
        span.scope().find_map(|span| {
            let extensions = span.extensions();
            let traced = extensions.get::<Traced>()?;
            let parent = if traced.sampled { Some(traced.id.clone()) } else { traced.root.as_ref()?.1.clone() };
            Some(TraceHeader { root: traced.trace_id.clone(), parent, sampled: Some(traced.sampled) })
        })
    })
    .flatten()
}

/// The header that continues the current trace from the current span (see [`header_of`]).
pub fn current_header() -> Option<TraceHeader> {
    header_of(&Span::current())
}

/// Whether the current span is traced and sampled: only then is it worth making a span of a call.
pub fn sampled_here() -> bool {
    with_traced(&Span::current(), |_| ()).is_some()
}

/// Sets the document's field `key` (`namespace`, `fault`...) of `span`, if it is traced and sampled.
pub fn set(span: &Span, key: &str, value: impl Into<Value>) {
    with_traced(span, |traced| {
        traced.fields.insert(key.into(), value.into());
    });
}

/// Sets `value` at `key` of the document's `object` (`aws`, `annotations`...) of `span`, if it is
/// traced and sampled.
pub fn set_in(span: &Span, object: &str, key: &str, value: impl Into<Value>) {
    with_traced(span, |traced| {
        let entry = traced.fields.entry(object).or_insert_with(|| json!({}));
        entry[key] = value.into();
    });
}

/// Sets `span`'s HTTP status and what X-Ray makes of it: a refusal is an `error` (a `throttle` too
/// when it is one), a 5xx a `fault`.
pub fn set_status(span: &Span, status: u16, throttled: bool) {
    with_traced(span, |traced| {
        traced.fields.insert("http".into(), json!({ "response": { "status": status } }));
        let flags: &[&str] = match status {
            _ if throttled || status == 429 => &["error", "throttle"],
            400..=499 => &["error"],
            500.. => &["fault"],
            _ => &[],
        };
        for flag in flags {
            traced.fields.insert((*flag).into(), json!(true));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_and_print_as_x_ray_writes_them() {
        let text = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let header = TraceHeader::parse(text).unwrap();
        assert!(header.is_sampled());
        assert_eq!(header.to_string(), text);
        assert_eq!(TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793").unwrap().sampled, None);
        assert_eq!(TraceHeader::parse("Root=2-nothex;Sampled=1"), None);
        assert_eq!(TraceHeader::parse("garbage"), None);
    }

    #[test]
    fn a_traceparent_becomes_an_x_ray_header() {
        let header = TraceHeader::from_traceparent("00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01").unwrap();
        assert_eq!(header.to_string(), "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1");
        assert_eq!(TraceHeader::from_traceparent("00-00000000000000000000000000000000-53995c3f42cd8ad8-01"), None);
        assert_eq!(TraceHeader::from_traceparent("00-abc-def-01"), None);
    }
}
