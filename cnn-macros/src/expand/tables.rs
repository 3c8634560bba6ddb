//! The network's tables as text and tokens: the summary (`SUMMARY`, the struct's rustdoc) and
//! the parameter and buffer specs (`PARAMS`, `BUFFERS`).

use crate::graph::Graph;
use crate::layers::{lit, InitKind, Role};
use crate::plan::Tables;
use proc_macro2::TokenStream;
use quote::quote;

/// The summary table: one row an item with its `state_dict` key, text (indented by depth),
/// output and parameters, then one row a named output.
pub(super) fn summary(g: &Graph, tables: &Tables) -> String {
    let (c, h, w) = g.input;
    let mut rows = vec![("".to_string(), g.input_text.clone(), format!("[{c}, {h}, {w}]"), "0".to_string())];
    for row in &g.rows {
        // A `reuse` adds no parameters: its nodes compute with its first use's.
        let params: usize =
            row.nodes.clone().filter(|&i| g.nodes[i].shares.is_none()).map(|i| tables.node_params(i)).sum();
        rows.push((
            row.key.clone(),
            format!("{}{}", "  ".repeat(row.depth), row.text),
            row.output.to_string(),
            params.to_string(),
        ));
    }
    // Named outputs close the table, in the order written, as the outputs struct's fields.
    for o in &g.outputs {
        rows.push((String::new(), format!("output {}", o.name), o.shape.to_string(), String::new()));
    }
    let total = tables.param_count;
    let head = ("#".to_string(), "layer".to_string(), "output".to_string(), "params".to_string());
    let foot = ("".to_string(), "total".to_string(), "".to_string(), total.to_string());
    let all: Vec<_> = std::iter::once(&head).chain(&rows).chain(std::iter::once(&foot)).collect();
    let w0 = all.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let w1 = all.iter().map(|r| r.1.len()).max().unwrap_or(0);
    let w2 = all.iter().map(|r| r.2.len()).max().unwrap_or(0);
    let w3 = all.iter().map(|r| r.3.len()).max().unwrap_or(0);
    all.iter()
        .map(|r| format!("{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}", r.0, r.1, r.2, r.3).trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `ParamSpec`s of the tensors of `role`.
pub(super) fn spec_table(tables: &Tables, role: Role) -> Vec<TokenStream> {
    tables
        .of(role)
        .map(|t| {
            let (name, offset) = (&t.name, lit(t.offset));
            let shape = t.shape.iter().map(|&d| lit(d));
            let init = match t.init {
                InitKind::Uniform(fan_in) => {
                    let f = lit(fan_in);
                    quote!(::cnn::Init::Uniform { fan_in: #f })
                }
                InitKind::Ones => quote!(::cnn::Init::Ones),
                InitKind::Zeros => quote!(::cnn::Init::Zeros),
                InitKind::Const(v) => {
                    let v = crate::layers::lit_f32(v);
                    quote!(::cnn::Init::Const(#v))
                }
            };
            quote! { ::cnn::ParamSpec { name: #name, shape: &[#(#shape),*], offset: #offset, init: #init } }
        })
        .collect()
}
