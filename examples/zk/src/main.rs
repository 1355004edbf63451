//! gpunet's ZK example: verifiable computation with a Groth16 proof.
//!
//! The statement: `output = f^rounds(seed)`, where `f(x) = (x + c_i)^3` in
//! BN254's scalar field with a fixed constant per round (a MiMC-style chain,
//! two constraints a round). Computing it is cheap, proving it is the work a
//! provider is paid for; checking the proof takes milliseconds whatever the
//! number of rounds, so a client needs no audit to trust the result.
//!
//! - `setup` (the client, once per circuit size): Groth16's circuit-specific
//!   keys. The client draws the setup's randomness and throws it away, so a
//!   provider cannot forge a proof; the proving key is the job's input, the
//!   verifying key stays with the client.
//! - `prove` (the job): reads the proving key, computes the chain and proves
//!   it, writes `proof.bin` and `claim.json` to the output directory. The
//!   proof's randomness is drawn from the key and the seed: there is no
//!   secret witness to hide (the seed is public), and a deterministic job is
//!   one gpunet can audit by running it twice.
//! - `verify` (the client, as `gpunet job get --check`): the claim is for the
//!   seed the client asked for and the circuit its key is for, and the proof
//!   holds. Every byte from the provider is validated as it is decoded
//!   (field elements below the modulus, points on the curve and in the
//!   subgroup).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use ark_bn254::{Bn254, Fr};
use ark_ff::{Field, PrimeField};
use ark_groth16::{Groth16, Proof, ProvingKey, VerifyingKey};
use ark_relations::lc;
use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError, Variable};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use ark_snark::SNARK;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

/// Key files start with a tag and the number of rounds their circuit has.
const PROVING_TAG: &[u8; 4] = b"GZKP";
const VERIFYING_TAG: &[u8; 4] = b"GZKV";
/// More rounds than this would need a key of tens of gigabytes.
const MAX_ROUNDS: u32 = 1 << 24;

const USAGE: &str = "usage:
  gpunet-zk setup --rounds N --out DIR     write DIR/proving.key (the job's input) and DIR/verifying.key (keep it)
  gpunet-zk prove --key FILE --seed SEED --out DIR
                                           prove f^N(SEED); write DIR/proof.bin and DIR/claim.json
  gpunet-zk verify --key FILE --seed SEED [--result DIR]
                                           check DIR's proof (default: $GPUNET_OUTPUT_DIR) for SEED";

/// What a proof claims, as `prove` writes it beside the proof.
#[derive(Serialize, Deserialize)]
struct Claim {
    seed: String,
    rounds: u32,
    /// The chain's last value: the field element's canonical bytes, in hex.
    output: String,
}

/// The circuit: `rounds` applications of `f` from `seed` to the public
/// output. Values are absent while keys are set up (only the shape counts).
struct Chain {
    rounds: u32,
    seed: Option<Fr>,
}

fn round_constant(round: u32) -> Fr {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"gpunet-zk round constant");
    hasher.update(&round.to_le_bytes());
    Fr::from_le_bytes_mod_order(hasher.finalize().as_bytes())
}

/// The seed as a field element: any string names one.
fn seed_element(seed: &str) -> Fr {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"gpunet-zk seed");
    hasher.update(seed.as_bytes());
    Fr::from_le_bytes_mod_order(hasher.finalize().as_bytes())
}

/// `f^rounds(x)`, computed directly.
fn chain(mut x: Fr, rounds: u32) -> Fr {
    for round in 0..rounds {
        let t = x + round_constant(round);
        x = t.square() * t;
    }
    x
}

impl ConstraintSynthesizer<Fr> for Chain {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let missing = SynthesisError::AssignmentMissing;
        let mut value = self.seed;
        let mut x = cs.new_input_variable(|| value.ok_or(missing))?;
        for round in 0..self.rounds {
            let c = round_constant(round);
            let t = value.map(|x| x + c);
            let square = t.map(|t| t.square());
            let next = t.zip(square).map(|(t, square)| square * t);
            let square_var = cs.new_witness_variable(|| square.ok_or(missing))?;
            let next_var = if round + 1 == self.rounds {
                cs.new_input_variable(|| next.ok_or(missing))?
            } else {
                cs.new_witness_variable(|| next.ok_or(missing))?
            };
            // (x + c) * (x + c) = square, then (x + c) * square = next.
            cs.enforce_constraint(
                lc!() + x + (c, Variable::One),
                lc!() + x + (c, Variable::One),
                lc!() + square_var,
            )?;
            cs.enforce_constraint(
                lc!() + x + (c, Variable::One),
                lc!() + square_var,
                lc!() + next_var,
            )?;
            x = next_var;
            value = next;
        }
        Ok(())
    }
}

/// Why a command failed: the message is for people, the exit code says
/// whether the proof was wrong (1) or the command could not run (2).
enum Failure {
    Rejected(String),
    Usage(String),
}

fn usage(why: impl Into<String>) -> Failure {
    Failure::Usage(why.into())
}

fn io(path: &Path, e: impl std::fmt::Display) -> Failure {
    usage(format!("{}: {e}", path.display()))
}

/// `--name value` pairs after the subcommand.
struct Flags(Vec<(String, String)>);

impl Flags {
    fn parse(args: &[String], known: &[&str]) -> Result<Flags, Failure> {
        let mut pairs = Vec::new();
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let name = flag
                .strip_prefix("--")
                .filter(|name| known.contains(name))
                .ok_or_else(|| usage(format!("unexpected argument {flag:?}")))?;
            let value = args
                .next()
                .ok_or_else(|| usage(format!("--{name} needs a value")))?;
            pairs.push((name.to_string(), value.clone()));
        }
        Ok(Flags(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> Result<&str, Failure> {
        self.get(name)
            .ok_or_else(|| usage(format!("--{name} is required")))
    }
}

fn read_key<K: CanonicalDeserialize>(
    path: &Path,
    tag: &[u8; 4],
    trusted: bool,
) -> Result<(u32, K), Failure> {
    let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
    let not_a_key = || {
        usage(format!(
            "{} is not a gpunet-zk {} key",
            path.display(),
            if tag == PROVING_TAG {
                "proving"
            } else {
                "verifying"
            }
        ))
    };
    let (head, body) = bytes.split_at_checked(8).ok_or_else(not_a_key)?;
    if &head[..4] != tag {
        return Err(not_a_key());
    }
    let rounds = u32::from_le_bytes(head[4..8].try_into().expect("four bytes"));
    // The proving key is the prover's own input (a bad one only fails its
    // own proof), and checking its millions of points would take longer
    // than proving; the verifying key is checked.
    let key = if trusted {
        K::deserialize_uncompressed_unchecked(body)
    } else {
        K::deserialize_compressed(body)
    }
    .map_err(|_| not_a_key())?;
    Ok((rounds, key))
}

fn setup(flags: &Flags) -> Result<(), Failure> {
    let rounds: u32 = flags
        .required("rounds")?
        .parse()
        .ok()
        .filter(|r| (1..=MAX_ROUNDS).contains(r))
        .ok_or_else(|| usage(format!("--rounds must be a number from 1 to {MAX_ROUNDS}")))?;
    let out = PathBuf::from(flags.required("out")?);
    std::fs::create_dir_all(&out).map_err(|e| io(&out, e))?;
    let started = Instant::now();
    // The setup's randomness must never be known to a prover: fresh from
    // the operating system, and dropped here.
    let mut rng = ChaCha20Rng::from_entropy();
    let (pk, vk) = Groth16::<Bn254>::circuit_specific_setup(Chain { rounds, seed: None }, &mut rng)
        .map_err(|e| usage(format!("setup failed: {e}")))?;
    let mut proving = Vec::from(*PROVING_TAG);
    proving.extend(rounds.to_le_bytes());
    pk.serialize_uncompressed(&mut proving)
        .expect("serializing to memory");
    let mut verifying = Vec::from(*VERIFYING_TAG);
    verifying.extend(rounds.to_le_bytes());
    vk.serialize_compressed(&mut verifying)
        .expect("serializing to memory");
    for (name, bytes) in [("proving.key", &proving), ("verifying.key", &verifying)] {
        let path = out.join(name);
        std::fs::write(&path, bytes).map_err(|e| io(&path, e))?;
    }
    println!(
        "set up a circuit of {rounds} rounds in {:.1} s: {} (the job's input, {} bytes) and {} (keep it)",
        started.elapsed().as_secs_f64(),
        out.join("proving.key").display(),
        proving.len(),
        out.join("verifying.key").display()
    );
    Ok(())
}

fn prove(flags: &Flags) -> Result<(), Failure> {
    let key_path = PathBuf::from(flags.required("key")?);
    let seed = flags.required("seed")?.to_string();
    let out = PathBuf::from(flags.required("out")?);
    let (rounds, pk): (u32, ProvingKey<Bn254>) = read_key(&key_path, PROVING_TAG, true)?;
    let x0 = seed_element(&seed);
    let output = chain(x0, rounds);
    // Deterministic: the same key and seed give the same proof bytes.
    let mut statement = blake3::Hasher::new();
    statement.update(b"gpunet-zk proof randomness");
    statement.update(&std::fs::read(&key_path).map_err(|e| io(&key_path, e))?);
    statement.update(seed.as_bytes());
    let mut rng = ChaCha20Rng::from_seed(*statement.finalize().as_bytes());
    let proof = Groth16::<Bn254>::prove(
        &pk,
        Chain {
            rounds,
            seed: Some(x0),
        },
        &mut rng,
    )
    .map_err(|e| usage(format!("proving failed: {e}")))?;
    let mut proof_bytes = Vec::new();
    proof
        .serialize_compressed(&mut proof_bytes)
        .expect("serializing to memory");
    let mut output_bytes = Vec::new();
    output
        .serialize_compressed(&mut output_bytes)
        .expect("serializing to memory");
    let claim = Claim {
        seed,
        rounds,
        output: hex(&output_bytes),
    };
    std::fs::create_dir_all(&out).map_err(|e| io(&out, e))?;
    let proof_path = out.join("proof.bin");
    std::fs::write(&proof_path, &proof_bytes).map_err(|e| io(&proof_path, e))?;
    let claim_path = out.join("claim.json");
    let claim_json = serde_json::to_string_pretty(&claim).expect("a claim serializes");
    std::fs::write(&claim_path, claim_json + "\n").map_err(|e| io(&claim_path, e))?;
    // No timing: a job's logs are part of its result, which must not
    // depend on the machine (examples/README's invariant).
    println!(
        "proved {rounds} rounds from seed {:?}: output {}",
        claim.seed, claim.output
    );
    Ok(())
}

fn verify(flags: &Flags) -> Result<(), Failure> {
    let key_path = PathBuf::from(flags.required("key")?);
    let seed = flags.required("seed")?;
    let result = match flags.get("result") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("GPUNET_OUTPUT_DIR")
            .map(PathBuf::from)
            .ok_or_else(|| usage("--result DIR is required outside `gpunet job get --check`"))?,
    };
    let started = Instant::now();
    let (rounds, vk): (u32, VerifyingKey<Bn254>) = read_key(&key_path, VERIFYING_TAG, false)?;
    let claim_path = result.join("claim.json");
    let claim: Claim = serde_json::from_slice(
        &std::fs::read(&claim_path)
            .map_err(|e| Failure::Rejected(format!("{}: {e}", claim_path.display())))?,
    )
    .map_err(|e| Failure::Rejected(format!("{} is not a claim: {e}", claim_path.display())))?;
    if claim.seed != seed {
        return Err(Failure::Rejected(format!(
            "the result is for seed {:?}, not {seed:?}",
            claim.seed
        )));
    }
    if claim.rounds != rounds {
        return Err(Failure::Rejected(format!(
            "the result claims {} rounds; the key is for {rounds}",
            claim.rounds
        )));
    }
    let output = unhex(&claim.output)
        .and_then(|bytes| Fr::deserialize_compressed(bytes.as_slice()).ok())
        .ok_or_else(|| {
            Failure::Rejected(format!(
                "the claimed output {:?} is not a field element",
                claim.output
            ))
        })?;
    let proof_path = result.join("proof.bin");
    let proof_bytes = std::fs::read(&proof_path)
        .map_err(|e| Failure::Rejected(format!("{}: {e}", proof_path.display())))?;
    let proof = Proof::<Bn254>::deserialize_compressed(proof_bytes.as_slice())
        .map_err(|_| Failure::Rejected(format!("{} is not a proof", proof_path.display())))?;
    let public = [seed_element(seed), output];
    let holds = Groth16::<Bn254>::verify(&vk, &public, &proof)
        .map_err(|e| Failure::Rejected(format!("the proof could not be checked: {e}")))?;
    if !holds {
        return Err(Failure::Rejected(format!(
            "the proof does not hold: {} is not shown to be f^{rounds}({seed:?})",
            claim.output
        )));
    }
    println!(
        "verified: f^{rounds}({seed:?}) = {} (checked in {} ms)",
        claim.output,
        started.elapsed().as_millis()
    );
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.split_first() {
        Some((cmd, rest)) if cmd == "setup" => {
            Flags::parse(rest, &["rounds", "out"]).and_then(|f| setup(&f))
        }
        Some((cmd, rest)) if cmd == "prove" => {
            Flags::parse(rest, &["key", "seed", "out"]).and_then(|f| prove(&f))
        }
        Some((cmd, rest)) if cmd == "verify" => {
            Flags::parse(rest, &["key", "seed", "result"]).and_then(|f| verify(&f))
        }
        Some((cmd, _)) if cmd == "--help" || cmd == "-h" || cmd == "help" => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(usage("a command is required")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Rejected(why)) => {
            eprintln!("gpunet-zk: rejected: {why}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(why)) => {
            eprintln!("gpunet-zk: {why}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
