//! Compile-fail cases: each file in tests/ui is one kind of mistake, and its `.stderr` is the
//! exact message and span the compiler shows. Regenerate with
//! `TRYBUILD=overwrite cargo test -p cnn-macros --test ui`.

#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
