//! `torchvision.models.inception_v3(aux_logits=False, transform_input=False)`: Inception
//! modules A to E, whose branches are sibling modules (`branch5x5_1`, `branch5x5_2`) chained
//! inside unnamed sequences.

use super::googlenet::basic_conv as bc;

fn a(name: &str, cin: usize, pool: usize) -> String {
    format!(
        "{name}: cat {{
            {}
            _: seq {{ {} {} }}
            _: seq {{ {} {} {} }}
            _: seq {{ _: avgpool(3, 1, p=1) {} }}
        }}\n",
        bc("branch1x1", cin, 64, "1", 1, "0"),
        bc("branch5x5_1", cin, 48, "1", 1, "0"),
        bc("branch5x5_2", 48, 64, "5", 1, "2"),
        bc("branch3x3dbl_1", cin, 64, "1", 1, "0"),
        bc("branch3x3dbl_2", 64, 96, "3", 1, "1"),
        bc("branch3x3dbl_3", 96, 96, "3", 1, "1"),
        bc("branch_pool", cin, pool, "1", 1, "0"),
    )
}

fn b(name: &str, cin: usize) -> String {
    format!(
        "{name}: cat {{
            {}
            _: seq {{ {} {} {} }}
            _: maxpool(3, 2)
        }}\n",
        bc("branch3x3", cin, 384, "3", 2, "0"),
        bc("branch3x3dbl_1", cin, 64, "1", 1, "0"),
        bc("branch3x3dbl_2", 64, 96, "3", 1, "1"),
        bc("branch3x3dbl_3", 96, 96, "3", 2, "0"),
    )
}

fn c(name: &str, cin: usize, c7: usize) -> String {
    let (row, col) = (("(1, 7)", "(0, 3)"), ("(7, 1)", "(3, 0)"));
    format!(
        "{name}: cat {{
            {}
            _: seq {{ {} {} {} }}
            _: seq {{ {} {} {} {} {} }}
            _: seq {{ _: avgpool(3, 1, p=1) {} }}
        }}\n",
        bc("branch1x1", cin, 192, "1", 1, "0"),
        bc("branch7x7_1", cin, c7, "1", 1, "0"),
        bc("branch7x7_2", c7, c7, row.0, 1, row.1),
        bc("branch7x7_3", c7, 192, col.0, 1, col.1),
        bc("branch7x7dbl_1", cin, c7, "1", 1, "0"),
        bc("branch7x7dbl_2", c7, c7, col.0, 1, col.1),
        bc("branch7x7dbl_3", c7, c7, row.0, 1, row.1),
        bc("branch7x7dbl_4", c7, c7, col.0, 1, col.1),
        bc("branch7x7dbl_5", c7, 192, row.0, 1, row.1),
        bc("branch_pool", cin, 192, "1", 1, "0"),
    )
}

fn d(name: &str, cin: usize) -> String {
    format!(
        "{name}: cat {{
            _: seq {{ {} {} }}
            _: seq {{ {} {} {} {} }}
            _: maxpool(3, 2)
        }}\n",
        bc("branch3x3_1", cin, 192, "1", 1, "0"),
        bc("branch3x3_2", 192, 320, "3", 2, "0"),
        bc("branch7x7x3_1", cin, 192, "1", 1, "0"),
        bc("branch7x7x3_2", 192, 192, "(1, 7)", 1, "(0, 3)"),
        bc("branch7x7x3_3", 192, 192, "(7, 1)", 1, "(3, 0)"),
        bc("branch7x7x3_4", 192, 192, "3", 2, "0"),
    )
}

fn e(name: &str, cin: usize) -> String {
    format!(
        "{name}: cat {{
            {}
            _: seq {{ {} _: cat {{ {} {} }} }}
            _: seq {{ {} {} _: cat {{ {} {} }} }}
            _: seq {{ _: avgpool(3, 1, p=1) {} }}
        }}\n",
        bc("branch1x1", cin, 320, "1", 1, "0"),
        bc("branch3x3_1", cin, 384, "1", 1, "0"),
        bc("branch3x3_2a", 384, 384, "(1, 3)", 1, "(0, 1)"),
        bc("branch3x3_2b", 384, 384, "(3, 1)", 1, "(1, 0)"),
        bc("branch3x3dbl_1", cin, 448, "1", 1, "0"),
        bc("branch3x3dbl_2", 448, 384, "3", 1, "1"),
        bc("branch3x3dbl_3a", 384, 384, "(1, 3)", 1, "(0, 1)"),
        bc("branch3x3dbl_3b", 384, 384, "(3, 1)", 1, "(1, 0)"),
        bc("branch_pool", cin, 192, "1", 1, "0"),
    )
}

pub fn inception_v3(n: usize) -> String {
    [
        bc("Conv2d_1a_3x3", 3, 32, "3", 2, "0"),
        bc("Conv2d_2a_3x3", 32, 32, "3", 1, "0"),
        bc("Conv2d_2b_3x3", 32, 64, "3", 1, "1"),
        "maxpool1: maxpool(3, 2)\n".to_string(),
        bc("Conv2d_3b_1x1", 64, 80, "1", 1, "0"),
        bc("Conv2d_4a_3x3", 80, 192, "3", 1, "0"),
        "maxpool2: maxpool(3, 2)\n".to_string(),
        a("Mixed_5b", 192, 32),
        a("Mixed_5c", 256, 64),
        a("Mixed_5d", 288, 64),
        b("Mixed_6a", 288),
        c("Mixed_6b", 768, 128),
        c("Mixed_6c", 768, 160),
        c("Mixed_6d", 768, 160),
        c("Mixed_6e", 768, 192),
        d("Mixed_7a", 768),
        e("Mixed_7b", 1280),
        e("Mixed_7c", 2048),
        format!("avgpool: adaptive_avgpool(1) dropout: dropout(0.5) _: flatten fc: linear(2048, {n})"),
    ]
    .concat()
}
