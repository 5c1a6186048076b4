//! What a document may ask, so that a hostile one is refused cheaply, before any resolver runs:
//! its size, its operations per request, its aliases, its fields once fragments are expanded, the
//! directives on a field, its depth and its complexity (lists cost their `first` times their
//! items). Introspection is allowed and held to the same limits.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};

/// The longest query text (the standard introspection query is about 1.5 KiB).
pub const MAX_DOCUMENT_BYTES: usize = 8 * 1024;
/// Operations in one batched request.
pub const MAX_OPERATIONS: usize = 5;
/// Aliased fields in one document.
pub const MAX_ALIASES: usize = 30;
/// Fields in one document once every fragment spread is replaced by its fragment.
pub const MAX_EXPANDED_FIELDS: usize = 500;
/// Directives on one field (`@skip` and `@include` are the schema's only ones).
pub const MAX_DIRECTIVES: usize = 4;
/// Nesting of fields (the standard introspection query nests 13 deep).
pub const MAX_DEPTH: usize = 15;
/// The schema's complexity (each field 1, a list `first` times its items, a nested positions list
/// [`POSITIONS_COST`] more): `markets(first: 100)` with every field passes, and so does the
/// default page of 20 markets each with its default 20 positions; no response reads more than 80
/// positions lists.
pub const MAX_COMPLEXITY: usize = 2000;
/// A nested positions list's own cost: each is two DynamoDB calls (the market's existence, its page).
pub const POSITIONS_COST: usize = 25;
/// Positions lists of one response read at the same time.
pub const CONCURRENT_POSITION_LISTS: usize = 4;

/// Refuses a document over [`MAX_DOCUMENT_BYTES`], [`MAX_ALIASES`] or [`MAX_EXPANDED_FIELDS`]
/// right after parsing, before validation walks it.
pub struct DocumentLimits;

impl ExtensionFactory for DocumentLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentLimits)
    }
}

#[async_trait::async_trait]
impl Extension for DocumentLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if query.len() > MAX_DOCUMENT_BYTES {
            return Err(ServerError::new(format!("the query is longer than {MAX_DOCUMENT_BYTES} bytes"), None));
        }
        let document = next.run(ctx, query, variables).await?;
        let counts = Counts::of(&document);
        if counts.aliases > MAX_ALIASES {
            return Err(ServerError::new(format!("the query has more than {MAX_ALIASES} aliases"), None));
        }
        if counts.expanded_fields > MAX_EXPANDED_FIELDS {
            let message = format!("the query has more than {MAX_EXPANDED_FIELDS} fields with its fragments expanded");
            return Err(ServerError::new(message, None));
        }
        Ok(document)
    }
}

/// What a document holds.
struct Counts {
    aliases: usize,
    expanded_fields: usize,
}

impl Counts {
    fn of(document: &ExecutableDocument) -> Self {
        let sets = || {
            let operations = document.operations.iter().map(|(_, operation)| &operation.node.selection_set.node);
            operations.chain(document.fragments.values().map(|fragment| &fragment.node.selection_set.node))
        };
        let aliases = sets().map(aliases).sum();
        let mut expansion = Expansion { document, sizes: HashMap::new() };
        let expanded_fields = document
            .operations
            .iter()
            .fold(0usize, |total, (_, op)| total.saturating_add(expansion.size(&op.node.selection_set.node)));
        Self { aliases, expanded_fields }
    }
}

fn aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + aliases(&field.node.selection_set.node)
            }
            Selection::InlineFragment(inline) => aliases(&inline.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// The fields of selection sets with fragments expanded, each fragment's size computed once (so a
/// fragment spread a thousand times costs one walk); a fragment within its own expansion counts 0
/// (validation refuses the cycle).
struct Expansion<'a> {
    document: &'a ExecutableDocument,
    /// `None` while the fragment is being expanded.
    sizes: HashMap<&'a str, Option<usize>>,
}

impl<'a> Expansion<'a> {
    fn size(&mut self, set: &'a SelectionSet) -> usize {
        set.items.iter().fold(0usize, |total, item| {
            let size = match &item.node {
                Selection::Field(field) => 1usize.saturating_add(self.size(&field.node.selection_set.node)),
                Selection::InlineFragment(inline) => self.size(&inline.node.selection_set.node),
                Selection::FragmentSpread(spread) => self.fragment(spread.node.fragment_name.node.as_str()),
            };
            total.saturating_add(size)
        })
    }

    fn fragment(&mut self, name: &'a str) -> usize {
        if let Some(known) = self.sizes.get(name) {
            return known.unwrap_or(0);
        }
        let Some(fragment) = self.document.fragments.get(name) else { return 0 };
        self.sizes.insert(name, None);
        let size = self.size(&fragment.node.selection_set.node);
        self.sizes.insert(name, Some(size));
        size
    }
}
