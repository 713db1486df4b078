//! Which archive paths extraction wants.

use module_metadata::wanted;

#[test]
fn wanted_table() {
    let table = [
        ("main.tf", true),
        ("variables.tf.json", true),
        ("main.tofu", true),
        ("main.tofu.json", true),
        ("README.md", true),
        ("readme.md", true),
        ("Readme.MD", true),
        ("override.tf", true),
        ("modules/vpc/main.tf", true),
        ("modules/vpc/README.md", true),
        ("modules/vpc/outputs.tofu.json", true),
        ("examples/basic/main.tf", true),
        ("examples/basic/readme.md", true),
        // Not configuration or README.
        ("main.json", false),
        ("main.TF", false),
        ("main.tf.bak", false),
        ("main.tf~", false),
        ("README.txt", false),
        ("README", false),
        ("LICENSE", false),
        ("terraform.tfvars", false),
        (".terraform.lock.hcl", false),
        (".hidden.tf", false),
        (".tf", false),
        ("", false),
        // Wrong place.
        ("modules/main.tf", false),
        ("examples/README.md", false),
        ("modules/vpc/nested/main.tf", false),
        ("modules/vpc/templates/README.md", false),
        ("examples/basic/sub/main.tf", false),
        ("docs/main.tf", false),
        ("test/fixtures/main.tf", false),
        ("Modules/vpc/main.tf", false),
        ("x/modules/vpc/main.tf", false),
        // Malformed.
        ("modules//main.tf", false),
        ("/main.tf", false),
        ("modules/vpc/", false),
        ("modules/vpc/.tf", false),
    ];
    for (path, want) in table {
        assert_eq!(wanted(path), want, "{path:?}");
    }
}
