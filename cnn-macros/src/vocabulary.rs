//! The DSL's vocabulary and its one source: the registries (`layers::KINDS`, `blocks::BLOCKS`,
//! `parse::KEYWORDS`, `models::FAMILIES`), the lookups the graph and the instance pass read
//! words by, the synonyms and lists the messages offer. Every other list of the words is
//! generated from the registries or checked against them by this module's tests, so a test
//! fails the moment one drifts: the DSL tables of the README, the crate's rustdoc and the book,
//! the converter's reserved words, the `families!` invocation and the facade's `cnn::models`.

use crate::blocks;
use crate::error::at;
use crate::graph::Words;
use crate::layers::{self, KINDS};
use crate::parse::KEYWORDS;
use proc_macro2::Ident;

/// The graph's vocabulary.
pub const WORDS: Words = Words { block: blocks::find, layer: layers::find, unknown_block, unknown_layer: unknown_kind };

/// What the DSL already calls `name`, if anything: a block of that name is refused, and the
/// word keeps its built-in meaning where the network uses it.
pub fn builtin(name: &str) -> Option<&'static str> {
    if layers::find(name).is_some() {
        Some("layer")
    } else if blocks::find(name).is_some() || name == "input" {
        Some("built-in block")
    } else if KEYWORDS.contains(&name) {
        Some("keyword")
    } else {
        None
    }
}

/// Whether `word` is an item kind: a layer, a block or `input`.
pub fn is_kind(word: &str) -> bool {
    layers::find(word).is_some() || blocks::find(word).is_some() || word == "input"
}

/// Names users bring from other libraries, and what to write instead.
pub const SYNONYMS: &[(&str, &str)] = &[
    ("fc", "linear"),
    ("fully_connected", "linear"),
    ("max_pool", "maxpool"),
    ("maxpool2d", "maxpool"),
    ("max_pool2d", "maxpool"),
    ("avg_pool", "avgpool"),
    ("avgpool2d", "avgpool"),
    ("avg_pool2d", "avgpool"),
    ("flat", "flatten"),
    ("batch_norm", "batchnorm"),
    ("bn", "batchnorm"),
    ("swish", "silu"),
    ("sequential", "seq"),
    ("upsampling", "upsample"),
    ("upsamplingnearest2d", "upsample"),
    ("upsamplingbilinear2d", "upsample"),
    ("pixelshuffle", "pixel_shuffle"),
    ("pixelunshuffle", "pixel_unshuffle"),
    ("pad", "zeropad"),
    ("constantpad2d", "zeropad"),
    ("deconv", "conv_transpose"),
    ("convtranspose2d", "conv_transpose"),
    ("conv_transposed", "conv_transpose"),
];

/// Every spelling of a layer kind and of the blocks, for "did you mean" hints.
fn all_names() -> impl Iterator<Item = &'static str> {
    KINDS.iter().flat_map(|k| k.names.iter().copied()).chain(["input"]).chain(blocks::names())
}

/// The list of layers and blocks the messages show, from the kind tables.
pub fn layer_list() -> String {
    let layers: Vec<&str> = KINDS.iter().map(|k| k.names[0]).collect();
    let blocks: Vec<&str> = blocks::names().collect();
    format!("input, {}, and the blocks {}", layers.join(", "), blocks.join(", "))
}

/// The error for an unknown kind word.
fn unknown_kind(kind: &Ident) -> syn::Error {
    let word = kind.to_string();
    let lower = word.to_lowercase();
    if let Some((_, instead)) = SYNONYMS.iter().find(|(s, _)| *s == lower) {
        return at(kind.span(), format!("unknown layer `{word}`"), Some(format!("write `{instead}`")));
    }
    if lower != word && layers::find(&lower).is_some() {
        return at(kind.span(), format!("unknown layer `{word}`"), Some(format!("write `{lower}`")));
    }
    let list = layer_list();
    let hint = match crate::error::nearest(&word, all_names()) {
        Some(n) => format!("did you mean `{n}`? the layers are {list}"),
        None => format!("the layers are {list}"),
    };
    at(kind.span(), format!("unknown layer `{word}`"), Some(hint))
}

/// The error for `kind` written with a body although it is no block: a layer kind
/// (`is_layer`), or no kind at all (with a "did you mean").
fn unknown_block(kind: &Ident, is_layer: bool) -> syn::Error {
    let word = kind.to_string();
    if is_layer {
        return at(kind.span(), format!("`{word}` is not a block"), Some(format!("the blocks are {}", blocks::list())));
    }
    let hint = match crate::error::nearest(&word, blocks::names()) {
        Some(n) => format!("did you mean `{n}`? the blocks are {}", blocks::list()),
        None => format!("the blocks are {}", blocks::list()),
    };
    at(kind.span(), format!("unknown block `{word}`"), Some(hint))
}

#[cfg(test)]
mod tests {
    use super::SYNONYMS;
    use crate::args::Default;
    use crate::blocks::BLOCKS;
    use crate::layers::{KindDef, KINDS};
    use crate::models::FAMILIES;
    use crate::parse::KEYWORDS;
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    fn repo_file(path: &str) -> String {
        let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
        std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
    }

    /// Every word the DSL knows: kinds (with their other spellings), blocks and keywords.
    fn known() -> BTreeSet<&'static str> {
        let kinds = KINDS.iter().flat_map(|k| k.names.iter().copied());
        kinds.chain(BLOCKS.iter().map(|b| b.name)).chain(KEYWORDS.iter().copied()).collect()
    }

    /// The rows of the first markdown table after the line `after` (rustdoc's `//! ` taken off).
    fn table(text: &str, after: &str) -> Vec<String> {
        let lines: Vec<&str> = text.lines().map(|l| l.strip_prefix("//!").map_or(l, |l| l.trim_start())).collect();
        let start = lines.iter().position(|l| l.contains(after)).unwrap_or_else(|| panic!("no line with {after:?}"));
        let rows = lines[start..].iter().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|'));
        rows.skip(2).map(|l| l.to_string()).collect()
    }

    /// The words a row's first column shows in code: the leading identifier of each `` `...` ``.
    fn words(row: &str) -> Vec<String> {
        let first = row.trim_start_matches('|').split(" | ").next().unwrap_or_default();
        first
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|code| code.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>())
            .filter(|w| !w.is_empty())
            .collect()
    }

    /// A DSL table lists only words the DSL has; a full one lists every kind and block, and in the
    /// rows of each kind every optional parameter it takes.
    fn check_table(file: &str, after: &str, full: bool) {
        let rows = table(&repo_file(file), after);
        assert!(rows.len() > 5, "{file}: the table after {after:?} has {} rows", rows.len());
        let known = known();
        let mut wrong = Vec::new();
        for row in &rows {
            // `_`: a value the previous layer gives, or an unnamed item.
            let unknown = words(row).into_iter().filter(|w| w != "_" && !known.contains(w.as_str()));
            wrong.extend(unknown.map(|w| format!("`{w}`")));
        }
        assert!(wrong.is_empty(), "{file}: the DSL table names {} that the DSL does not have", wrong.join(", "));
        if !full {
            return;
        }
        let mut missing = Vec::new();
        for kind in KINDS {
            let rows: Vec<&String> =
                rows.iter().filter(|r| words(r).iter().any(|w| kind.names.contains(&w.as_str()))).collect();
            if rows.is_empty() {
                missing.push(format!("`{}`", kind.names[0]));
                continue;
            }
            missing.extend(undocumented(kind, &rows).into_iter().map(|p| format!("`{}`'s `{p}`", kind.names[0])));
        }
        for block in BLOCKS {
            if !rows.iter().any(|r| words(r).iter().any(|w| w == block.name)) {
                missing.push(format!("`{}`", block.name));
            }
        }
        assert!(missing.is_empty(), "{file}: the DSL table lacks {}", missing.join(", "));
    }

    /// The optional parameters of `kind` that none of its rows names in code (`k=3`,
    /// `zeropad(left, right, top, bottom)`, `nn.ELU(alpha)`).
    fn undocumented(kind: &KindDef, rows: &[&String]) -> Vec<&'static str> {
        let idents: BTreeSet<&str> = rows
            .iter()
            .flat_map(|r| r.split('`').skip(1).step_by(2))
            .flat_map(|code| code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
            .collect();
        kind.params
            .iter()
            .filter(|p| !matches!(p.default, Default::Required))
            .filter(|p| !idents.contains(p.name) && !p.short.is_some_and(|s| idents.contains(s)))
            .map(|p| p.name)
            .collect()
    }

    #[test]
    fn the_dsl_tables_name_the_registry() {
        check_table("src/lib.rs", "# The DSL", true);
        check_table("docs/src/dsl.md", "## Layers", true);
        check_table("README.md", "| DSL | PyTorch |", false);
    }

    #[test]
    fn the_converters_reserved_words_are_the_dsls() {
        let text = repo_file("tools/torch2cnn/blocks.py");
        let start = text.find("RESERVED = {").expect("RESERVED in tools/torch2cnn/blocks.py");
        let set = &text[start..start + text[start..].find('}').expect("the set's end")];
        let reserved: BTreeSet<&str> = set.split('"').skip(1).step_by(2).collect();
        let known = known();
        let missing: Vec<&&str> = known.difference(&reserved).collect();
        let extra: Vec<&&str> = reserved.difference(&known).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "torch2cnn/blocks.py RESERVED lacks {missing:?}, and has {extra:?} the DSL does not"
        );
    }

    #[test]
    fn synonyms_point_at_kinds() {
        for (synonym, kind) in SYNONYMS {
            assert!(known().contains(kind), "`{synonym}` suggests `{kind}`, which the DSL does not have");
            assert!(!known().contains(synonym), "`{synonym}` is a word of the DSL, not a synonym");
        }
    }

    #[test]
    fn every_family_is_a_macro_and_exported() {
        let families: BTreeSet<&str> = FAMILIES.iter().map(|(n, _)| *n).collect();
        let lib = repo_file("cnn-macros/src/lib.rs");
        let call = lib.split("families!(").nth(1).expect("the families! invocation");
        let invoked: BTreeSet<&str> = call[..call.find(')').expect("its end")].split_whitespace().collect();
        assert_eq!(invoked, families, "the families! invocation in cnn-macros/src/lib.rs");
        let models = repo_file("src/models.rs");
        let exported: BTreeSet<&str> = models
            .split("pub use cnn_macros::{")
            .skip(1)
            .flat_map(|u| u[..u.find('}').expect("the use's end")].split(','))
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .collect();
        assert_eq!(exported, families, "the re-exports of src/models.rs");
        for name in families {
            assert!(models.contains(&format!("`{name}!`")), "src/models.rs's table lacks `{name}!`");
        }
    }
}
