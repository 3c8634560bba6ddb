use cnn::cnn;

cnn! {
    struct NotALength {
        input(3, 8, 8)
        conv1d(3, 8, k=3)
    }
}

cnn! {
    struct TwoUnknown {
        input(3, 8, 8)
        view(-1, -1)
    }
}

cnn! {
    struct WrongCount {
        input(3, 8, 8)
        view(5, -1) view(8, 3, 3)
    }
}

cnn! {
    struct ZeroSize {
        input(3, 8, 8)
        view(0, 64)
    }
}

cnn! {
    struct Conv1dArgs {
        input(3, 8, 8)
        view(3, 64) conv1d(4, 8, k=3) conv1d(8, 8, k=(3, 3))
    }
}

cnn! {
    struct Conv1dWindow {
        input(3, 8, 8)
        view(3, 64) conv1d(3, 8, k=35, p=2, d=2)
    }
}

cnn! {
    struct BackToSpatial {
        input(3, 8, 8)
        view(3, 64) conv1d(3, 8, k=3, p=1) maxpool(2)
    }
}

fn main() {}
