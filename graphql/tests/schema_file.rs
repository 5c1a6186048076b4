//! `schema.graphql` is the committed contract of `POST /api/graphql`: it must be the schema the
//! code serves. After a deliberate change, write it again with
//! `UPDATE_SCHEMA=1 cargo test -p markets-graphql --test schema_file`.

#[test]
fn the_committed_sdl_is_the_schema_the_code_serves() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let served = markets_graphql::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &served).expect("write schema.graphql");
    }
    let committed = std::fs::read_to_string(path).expect("graphql/schema.graphql");
    assert!(
        committed == served,
        "graphql/schema.graphql differs from the schema the code serves; if the change is meant, run \
         UPDATE_SCHEMA=1 cargo test -p markets-graphql --test schema_file and review the diff"
    );
}
