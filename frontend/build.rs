//! Minifies the element's stylesheet (it is compiled into the WASM): comments and the
//! whitespace CSS does not need go, which keeps the element within its size budget.

fn main() {
    let source = "../style/element.css";
    println!("cargo::rerun-if-changed={source}");
    let css = std::fs::read_to_string(source).expect("style/element.css");
    let out = std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("element.min.css");
    std::fs::write(out, minify(&css)).expect("writing the minified stylesheet");
}

fn minify(css: &str) -> String {
    // Comments out, whitespace runs to one space.
    let mut text = String::with_capacity(css.len());
    let mut rest = css;
    while let Some(start) = rest.find("/*") {
        text.push_str(&rest[..start]);
        rest = rest[start + 2..].find("*/").map_or("", |end| &rest[start + 2 + end + 2..]);
    }
    text.push_str(rest);
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    // No space is needed around these; a space before `:` is kept (`a :hover` is a selector).
    let mut out = String::with_capacity(collapsed.len());
    let chars: Vec<char> = collapsed.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        let tight = |ch: Option<char>| matches!(ch, Some('{' | '}' | ';' | ',' | '>'));
        if c == ' ' && (tight(prev) || tight(next) || prev == Some(':')) {
            continue;
        }
        out.push(c);
    }
    out.replace(";}", "}")
}
