//! Links PMDK (Debian: `apt-get install -y libpmemobj-dev`): libpmemobj for the comparison,
//! libpmem for `pmem_is_pmem`, which the report uses to show PMEM_IS_PMEM_FORCE took effect.
fn main() {
    println!("cargo:rustc-link-lib=pmemobj");
    println!("cargo:rustc-link-lib=pmem");
}
