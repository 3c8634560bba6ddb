//! Block uses, loops and conditions evaluated into the plain item tree the graph reads.
//!
//! A use `name: NAME(args)` of a `block NAME(params) { ... }` becomes a `seq` holding the block's
//! items with the arguments bound to the parameters, so its keys are a `seq`'s
//! (`layer1.0.conv1.weight`); `for` and `if` are flattened into the items around them, so
//! positions count on as if the items were written out. Every item expanded from a block's body
//! carries a note naming the use (and the uses around it), which ends each of its errors.

use crate::error::{at, Errors};
use crate::expr::{Env, Expr, Value};
use crate::parse::{
    check_segment, stand_in, ArgSyntax, ArgTemplate, ArgsSyntax, BlockSyntax, ItemSyntax, ItemTemplate, NameSyntax,
    NameTemplate, Net, NetSyntax, Piece, Segment, Stmt, ValueSyntax, ValueTemplate, MAX_DEPTH,
};
use proc_macro2::Span;
use std::collections::HashSet;
use std::rc::Rc;
use syn::Ident;

/// The most items a network may expand to: far above torchvision's largest (ResNet-152 is
/// about 700), and low enough that a runaway loop stops with an error before the macro itself
/// spends much time or memory. What rustc can compile is lower for most kinds, and is checked
/// on the generated code (`size::MAX_TOKENS`).
pub const MAX_ITEMS: usize = 1 << 14;

/// Expands `net` with `blocks` defined; problems are pushed to `errors`.
pub fn expand(net: NetSyntax, blocks: &[BlockSyntax], errors: &mut Errors) -> Net {
    let NetSyntax { attrs, vis, ident, items } = net;
    let mut x =
        Expander { blocks, errors, next: 0, uses: Vec::new(), note: None, full: false, bad_names: HashSet::new() };
    let items = x.stmts(&items, &Env::new(), 0);
    Net { attrs, vis, ident, items }
}

/// Checks the definitions themselves: a name a layer or block kind already has, a block
/// defined twice.
pub fn check_definitions(blocks: &[BlockSyntax], errors: &mut Errors) {
    for (i, b) in blocks.iter().enumerate() {
        let name = b.name.to_string();
        if let Some(what) = crate::vocabulary::builtin(&name) {
            errors.push(at(
                b.name.span(),
                format!("`{name}` is a {what} of the DSL; a block cannot take its name"),
                Some(format!("name the block something else, such as `my_{name}`")),
            ));
        } else if blocks[..i].iter().any(|earlier| earlier.name == b.name) {
            errors.push(at(
                b.name.span(),
                format!("block `{name}` is defined twice"),
                Some("rename one of them".into()),
            ));
        }
    }
}

struct Expander<'a, 'e> {
    blocks: &'a [BlockSyntax],
    errors: &'e mut Errors,
    /// The index the next item gets.
    next: usize,
    /// The blocks being expanded, outermost first, to find cycles.
    uses: Vec<String>,
    /// The note of the use being expanded.
    note: Option<Rc<str>>,
    /// Interpolated names already reported as bad segments, by where they are written.
    bad_names: HashSet<(proc_macro2::LineColumn, proc_macro2::LineColumn)>,
    /// Whether [`MAX_ITEMS`] was reached (reported once).
    full: bool,
}

impl Expander<'_, '_> {
    /// Reports `e` on the item about to be expanded, with the current use's note.
    fn error(&mut self, e: syn::Error) {
        self.errors.at_item(self.next);
        if let Some(note) = &self.note {
            self.errors.note(self.next, note.clone());
        }
        self.errors.push(e);
    }

    fn stmts(&mut self, stmts: &[Stmt], env: &Env, depth: usize) -> Vec<ItemSyntax> {
        let mut out = Vec::new();
        self.stmt_list(stmts, env, depth, &mut out);
        out
    }

    fn stmt(&mut self, stmt: &Stmt, env: &Env, depth: usize, out: &mut Vec<ItemSyntax>) {
        if self.full {
            return;
        }
        match stmt {
            Stmt::Item(t) => out.extend(self.item(t, env, depth)),
            Stmt::For { var, from, to, inclusive, span, body } => {
                let (Some(a), Some(b)) = (self.int(from, env, "a loop bound"), self.int(to, env, "a loop bound"))
                else {
                    return;
                };
                let end = if *inclusive { b.saturating_add(1) } else { b };
                let count = end.saturating_sub(a).max(0);
                if count as u64 > MAX_ITEMS as u64 {
                    self.error(at(
                        *span,
                        format!("this loop repeats {count} times ({a}..{end}), more than the {MAX_ITEMS} items a network may have"),
                        None,
                    ));
                    return;
                }
                for i in a..end {
                    let mut inner = env.clone();
                    if let Some(var) = var {
                        inner.insert(var.to_string(), Value::Int(i));
                    }
                    self.stmt_list(body, &inner, depth, out);
                    if self.full {
                        return;
                    }
                }
            }
            Stmt::If { cond, then, otherwise } => match cond.eval(env) {
                Ok(Value::Bool(true)) => self.stmt_list(then, env, depth, out),
                Ok(Value::Bool(false)) => self.stmt_list(otherwise, env, depth, out),
                Ok(v) => self.error(at(
                    cond.first_span(),
                    format!("a condition is true or false, but `{}` is {v}", cond.text()),
                    Some("compare it, as in `s != 1`".into()),
                )),
                Err(e) => self.error(e),
            },
        }
    }

    fn stmt_list(&mut self, stmts: &[Stmt], env: &Env, depth: usize, out: &mut Vec<ItemSyntax>) {
        for stmt in stmts {
            self.stmt(stmt, env, depth, out);
        }
    }

    /// `e` evaluated to an integer, or `None` with the error reported.
    fn int(&mut self, e: &Expr, env: &Env, what: &str) -> Option<i64> {
        match e.eval(env) {
            Ok(Value::Int(v)) => Some(v),
            Ok(v) => {
                self.error(at(e.first_span(), format!("{what} is an integer, but `{}` is {v}", e.text()), None));
                None
            }
            Err(err) => {
                self.error(err);
                None
            }
        }
    }

    fn item(&mut self, t: &ItemTemplate, env: &Env, depth: usize) -> Option<ItemSyntax> {
        if self.next >= MAX_ITEMS {
            self.full = true;
            self.error(at(t.kind.span(), format!("the network expands to more than {MAX_ITEMS} items"), None));
            return None;
        }
        let index = self.next;
        self.next += 1;
        self.errors.at_item(index);
        if let Some(note) = &self.note {
            self.errors.note(index, note.clone());
        }
        let name = t.name.as_ref().map(|n| self.name(n, env));
        let word = t.kind.to_string();
        if let Some(def) = self.blocks.iter().find(|b| b.name == word) {
            return Some(self.use_block(def, t, index, name, env, depth));
        }
        let args = t.args.as_ref().map(|(span, list)| ArgsSyntax {
            span: *span,
            args: list.iter().map(|a| ArgSyntax { key: a.key.clone(), value: self.value(&a.value, env) }).collect(),
        });
        let body = match &t.body {
            Some((span, stmts)) if depth <= MAX_DEPTH => Some((*span, self.stmts(stmts, env, depth + 1))),
            Some((span, _)) => {
                self.errors.at_item(index);
                self.errors.push(at(t.kind.span(), format!("blocks nest more than {MAX_DEPTH} deep here"), None));
                return Some(reported(index, name, &t.kind, *span));
            }
            None => None,
        };
        let mut item = ItemSyntax { index, name, kind: t.kind.clone(), args, body, shown: None, reported: false };
        let known = crate::vocabulary::is_kind(&word) || item.is_value_step() || word == "reuse";
        if !known {
            let names = self.blocks.iter().map(|b| b.name.to_string()).collect::<Vec<_>>();
            if let Some(near) = crate::error::nearest(&word, names.iter().map(String::as_str)) {
                self.errors.at_item(index);
                self.errors.push(at(
                    t.kind.span(),
                    format!("unknown block `{word}`"),
                    Some(format!("did you mean `{near}`, the block defined in this `cnn!`?")),
                ));
                item.reported = true;
            }
        }
        Some(item)
    }

    /// A name with its interpolations evaluated.
    fn name(&mut self, n: &NameTemplate, env: &Env) -> NameSyntax {
        let mut segments = Vec::new();
        let mut reported = false;
        for segment in &n.segments {
            match segment {
                Segment::Plain(text) => segments.push(text.clone()),
                Segment::Reported(text) => {
                    segments.push(text.clone());
                    reported = true;
                }
                Segment::Interpolated(pieces, span) => {
                    let mut text = String::new();
                    for piece in pieces {
                        match piece {
                            Piece::Text(t) => text += t,
                            // A bare word is not a value here: `layer{jj}` with no `jj`
                            // would silently become `layerjj`.
                            Piece::Expr(Expr::Name(n, span)) if !env.contains_key(n) => {
                                self.errors.push(unknown_name(n, *span, env));
                                text += n;
                                reported = true;
                            }
                            Piece::Expr(e) => match e.eval(env) {
                                Ok(Value::Str(s) | Value::Word(s)) => text += &s,
                                Ok(v) => text += &v.to_string(),
                                Err(err) => {
                                    self.errors.push(err);
                                    reported = true;
                                }
                            },
                        }
                    }
                    match check_segment(&text, *span) {
                        Ok(()) => segments.push(text),
                        Err(e) => {
                            // Said once for the name as written, whatever value each turn of
                            // a loop gives it.
                            if self.bad_names.insert((span.start(), span.end())) {
                                self.errors.push(e);
                            }
                            // Unique per item: one written name expands to many.
                            segments.push(stand_in(&text, self.next));
                            reported = true;
                        }
                    }
                }
            }
        }
        NameSyntax { segments, span: n.span, reported }
    }

    /// An argument's value, evaluated.
    fn value(&mut self, v: &ValueTemplate, env: &Env) -> ValueSyntax {
        match v {
            ValueTemplate::Plain(v) => v.clone(),
            ValueTemplate::Expr(e) => {
                let span = e.first_span();
                match e.eval(env) {
                    Ok(value) => syntax(value, span, e, self.errors),
                    Err(err) => {
                        self.errors.push(err);
                        ValueSyntax::Bad(span)
                    }
                }
            }
        }
    }

    /// A use of `def`: a `seq` of its items with the arguments bound.
    fn use_block(
        &mut self,
        def: &BlockSyntax,
        t: &ItemTemplate,
        index: usize,
        name: Option<NameSyntax>,
        env: &Env,
        depth: usize,
    ) -> ItemSyntax {
        let word = def.name.to_string();
        let span = t.kind.span();
        if let Some((body, _)) = &t.body {
            self.errors.push(at(
                *body,
                format!("`{word}` is a block defined in this `cnn!`: it takes arguments, not a body"),
                Some(format!("write `{word}({})`", params(def))),
            ));
        }
        if let Some(at_use) = self.uses.iter().position(|u| *u == word) {
            let mut cycle = self.uses[at_use..].to_vec();
            cycle.push(word.clone());
            self.errors.push(at(
                span,
                format!("block `{word}` uses itself: {}", cycle.join(" -> ")),
                Some("a block cannot contain itself; repeat items with `for` instead".into()),
            ));
            return reported(index, name, &t.kind, span);
        }
        if depth >= MAX_DEPTH {
            self.errors.push(at(span, format!("blocks nest more than {MAX_DEPTH} deep here"), None));
            return reported(index, name, &t.kind, span);
        }
        let Some(bound) = self.bind(def, t, env) else { return reported(index, name, &t.kind, span) };
        let values: Vec<String> = bound.iter().map(|(_, v)| v.to_string()).collect();
        let shown = format!("{word}({})", values.join(", "));
        if def.broken {
            // Its body's syntax errors are reported with the definition.
            self.errors.taint();
            let mut item = reported(index, name, &t.kind, span);
            item.shown = Some(shown);
            return item;
        }
        let line = span.start().line;
        let with: Vec<String> = bound.iter().map(|(p, v)| format!("{p} = {v}")).collect();
        let mut note = format!("in `{shown}` at line {line}");
        if !with.is_empty() {
            note += &format!(" ({})", with.join(", "));
        }
        if let Some(outer) = &self.note {
            note += &format!(", {outer}");
        }
        let inner: Env = bound.into_iter().collect();
        let saved = self.note.replace(Rc::from(note));
        self.uses.push(word);
        let mut items = self.stmts(&def.body, &inner, depth + 1);
        self.uses.pop();
        self.note = saved;
        if items.is_empty() {
            // Like an empty `nn.Sequential`, a block that holds nothing passes its input on.
            let index = self.next;
            self.next += 1;
            let kind = Ident::new("identity", span);
            items.push(ItemSyntax { index, name: None, kind, args: None, body: None, shown: None, reported: false });
        }
        let kind = Ident::new("seq", span);
        ItemSyntax { index, name, kind, args: None, body: Some((span, items)), shown: Some(shown), reported: false }
    }

    /// The arguments of a use bound to `def`'s parameters, in their order; `None` after an
    /// error (reported on the call).
    fn bind(&mut self, def: &BlockSyntax, t: &ItemTemplate, env: &Env) -> Option<Vec<(String, Value)>> {
        let word = def.name.to_string();
        let span = t.kind.span();
        let mut given: Vec<Option<Value>> = vec![None; def.params.len()];
        let mut ok = true;
        let mut saw_keyword = false;
        let mut positional = 0;
        let list: &[ArgTemplate] = t.args.as_ref().map_or(&[], |(_, list)| list);
        for arg in list {
            let arg_span = match &arg.value {
                ValueTemplate::Plain(v) => v.span(),
                ValueTemplate::Expr(e) => e.first_span(),
            };
            let slot = match &arg.key {
                None if saw_keyword => {
                    self.errors.push(at(
                        arg_span,
                        "positional argument after a keyword argument",
                        Some("put positional arguments first, as in Python".into()),
                    ));
                    ok = false;
                    continue;
                }
                // One error for all the extra arguments, on the first of them.
                None if positional > def.params.len() => continue,
                None if positional == def.params.len() => {
                    positional += 1;
                    self.errors.push(at(
                        arg_span,
                        format!(
                            "block `{word}` takes {} argument{} ({}), but {} are given",
                            def.params.len(),
                            if def.params.len() == 1 { "" } else { "s" },
                            params(def),
                            list.iter().filter(|a| a.key.is_none()).count()
                        ),
                        Some(format!("write `{word}({})`", params(def))),
                    ));
                    ok = false;
                    continue;
                }
                None => {
                    positional += 1;
                    positional - 1
                }
                Some(key) => {
                    saw_keyword = true;
                    match def.params.iter().position(|p| p.name == *key) {
                        Some(i) => i,
                        None => {
                            let names: Vec<String> = def.params.iter().map(|p| p.name.to_string()).collect();
                            let hint = match crate::error::nearest(&key.to_string(), names.iter().map(String::as_str)) {
                                Some(n) => format!("did you mean `{n}`? `{word}` takes {}", params(def)),
                                None => format!("`{word}` takes {}", params(def)),
                            };
                            self.errors.push(at(
                                key.span(),
                                format!("unknown argument `{key}` for block `{word}`"),
                                Some(hint),
                            ));
                            ok = false;
                            continue;
                        }
                    }
                }
            };
            if given[slot].is_some() {
                self.errors.push(at(arg_span, format!("`{}` is given twice", def.params[slot].name), None));
                ok = false;
                continue;
            }
            let value = match &arg.value {
                ValueTemplate::Plain(v) => plain(v),
                ValueTemplate::Expr(e) => e.eval(env).map_err(|err| self.errors.push(err)).ok(),
            };
            ok &= value.is_some();
            given[slot] = value;
        }
        let mut bound: Vec<(String, Value)> = Vec::new();
        for (p, value) in def.params.iter().zip(given) {
            let value = match (value, &p.default) {
                (Some(v), _) => v,
                // A default may read the parameters before it.
                (None, Some(default)) => match default.eval(&bound.iter().cloned().collect()) {
                    Ok(v) => v,
                    Err(e) => {
                        self.errors.push(e);
                        ok = false;
                        continue;
                    }
                },
                (None, None) => {
                    if ok {
                        self.errors.push(at(
                            span,
                            format!("block `{word}` is missing argument `{}`", p.name),
                            Some(format!("write `{word}({})`", params(def))),
                        ));
                    }
                    ok = false;
                    continue;
                }
            };
            bound.push((p.name.to_string(), value));
        }
        ok.then_some(bound)
    }
}

/// The parameter list as the block's header spells it.
fn params(def: &BlockSyntax) -> String {
    let names: Vec<String> = def
        .params
        .iter()
        .map(|p| match &p.default {
            Some(d) => format!("{} = {}", p.name, d.text()),
            None => p.name.to_string(),
        })
        .collect();
    names.join(", ")
}

/// An item already reported as an error: a `seq` whose output is unknown.
fn reported(index: usize, name: Option<NameSyntax>, kind: &Ident, span: Span) -> ItemSyntax {
    let kind = Ident::new("seq", kind.span());
    ItemSyntax { index, name, kind, args: None, body: Some((span, Vec::new())), shown: None, reported: true }
}

/// A plain argument as a value a parameter binds; `None` for one already reported as bad.
fn plain(v: &ValueSyntax) -> Option<Value> {
    Some(match v {
        ValueSyntax::Int(n, _) => Value::Int(*n as i64),
        ValueSyntax::Float(f, _) => Value::Float(*f),
        ValueSyntax::Infer(_) => Value::Infer,
        ValueSyntax::Pair(h, w, _) => Value::Pair(*h as i64, *w as i64),
        ValueSyntax::Bool(b, _) => Value::Bool(*b),
        ValueSyntax::Word(w, _) => Value::Word(w.clone()),
        ValueSyntax::Str(s, _) => Value::Str(s.clone()),
        ValueSyntax::Bad(_) => return None,
    })
}

/// An evaluated value as the layers read an argument, on `span`; a negative integer is a
/// negative number, which only a float or `dim` argument takes.
fn syntax(value: Value, span: Span, e: &Expr, errors: &mut Errors) -> ValueSyntax {
    match value {
        Value::Int(n) if n >= 0 => ValueSyntax::Int(n as usize, span),
        Value::Int(n) => ValueSyntax::Float(n as f64, span),
        Value::Float(f) => ValueSyntax::Float(f, span),
        Value::Bool(b) => ValueSyntax::Bool(b, span),
        Value::Word(w) => ValueSyntax::Word(w, span),
        Value::Str(s) => ValueSyntax::Str(s, span),
        Value::Infer => ValueSyntax::Infer(span),
        Value::Pair(h, w) if h >= 0 && w >= 0 => ValueSyntax::Pair(h as usize, w as usize, span),
        Value::Pair(h, w) => {
            errors.push(at(span, format!("sizes cannot be negative: `{}` is ({h}, {w})", e.text()), None));
            ValueSyntax::Bad(span)
        }
    }
}

/// The error for a name in an interpolation that no parameter or loop variable has.
fn unknown_name(name: &str, span: Span, env: &Env) -> syn::Error {
    let hint = crate::error::names_here(name, env.keys().map(String::as_str).collect()).unwrap_or_else(|| {
        "only a block's parameters and loop variables can be inserted into a name; there are none here".into()
    });
    at(span, format!("`{{{name}}}` in this name: `{name}` is not a parameter or loop variable"), Some(hint))
}
