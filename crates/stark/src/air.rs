//! The AIR: one column, `x' = (x + c)^7` with 64 periodic round constants,
//! the start and the result asserted.

use capsule::digest::Digest;
use winterfell::crypto::hashers::Blake3_256;
use winterfell::crypto::{DefaultRandomCoin, MerkleTree};
use winterfell::math::fields::f64::BaseElement;
use winterfell::math::{FieldElement, ToElements};
use winterfell::matrix::ColMatrix;
use winterfell::{
    Air, AirContext, Assertion, AuxRandElements, CompositionPoly, CompositionPolyTrace,
    ConstraintCompositionCoefficients, DefaultConstraintCommitment, DefaultConstraintEvaluator, DefaultTraceLde,
    EvaluationFrame, PartitionOptions, ProofOptions, Prover, StarkDomain, TraceInfo, TracePolyTable, TraceTable,
    TransitionConstraintDegree,
};

/// Round constants repeat every this many steps.
pub const ROUNDS_PERIOD: usize = 64;

/// The round constants: `SHA-256("capsulebench/stark-mimc7/v1" ‖ 0x00 ‖
/// le32(j))`, first 8 bytes little-endian, reduced into the field.
pub(crate) fn round_constants() -> Vec<BaseElement> {
    (0..ROUNDS_PERIOD as u32).map(|j| hash_to_element(b"capsulebench/stark-mimc7/v1", &j.to_le_bytes())).collect()
}

/// `SHA-256(domain ‖ 0x00 ‖ data)`, first 8 bytes little-endian, reduced
/// into the field.
pub(crate) fn hash_to_element(domain: &[u8], data: &[u8]) -> BaseElement {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(domain);
    h.update([0u8]);
    h.update(data);
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    BaseElement::new(u64::from_le_bytes(first))
}

/// The public inputs; all of them seed the Fiat–Shamir transcript.
#[derive(Clone, Debug)]
pub struct PublicInputs {
    statement: [BaseElement; 8],
    nonce: [BaseElement; 2],
    start: BaseElement,
    result: BaseElement,
}

impl PublicInputs {
    /// The inputs of the chain from `seed` ending in `result`, proved for
    /// `statement` and `nonce`.
    pub fn new(statement: &Digest, nonce: u64, seed: u64, result: BaseElement) -> Self {
        let mut limbs = [BaseElement::ZERO; 8];
        for (i, l) in limbs.iter_mut().enumerate() {
            let mut w = [0u8; 4];
            w.copy_from_slice(&statement.0[i * 4..i * 4 + 4]);
            *l = BaseElement::new(u64::from(u32::from_le_bytes(w)));
        }
        PublicInputs {
            statement: limbs,
            nonce: [BaseElement::new(nonce & 0xffff_ffff), BaseElement::new(nonce >> 32)],
            start: crate::start_value(seed),
            result,
        }
    }
}

impl ToElements<BaseElement> for PublicInputs {
    fn to_elements(&self) -> Vec<BaseElement> {
        let mut v = self.statement.to_vec();
        v.extend_from_slice(&self.nonce);
        v.push(self.start);
        v.push(self.result);
        v
    }
}

/// The MiMC-7 chain's AIR.
pub struct MimcAir {
    context: AirContext<BaseElement>,
    start: BaseElement,
    result: BaseElement,
}

impl Air for MimcAir {
    type BaseField = BaseElement;
    type PublicInputs = PublicInputs;

    fn new(trace_info: TraceInfo, pub_inputs: PublicInputs, options: ProofOptions) -> Self {
        // (x + c)^7 with x of degree n − 1 and the periodic c of degree
        // (64 − 1)·n/64 < n − 1: degree 7 in the trace alone.
        let degrees = vec![TransitionConstraintDegree::new(7)];
        MimcAir {
            context: AirContext::new(trace_info, degrees, 2, options),
            start: pub_inputs.start,
            result: pub_inputs.result,
        }
    }

    fn evaluate_transition<E: FieldElement + From<Self::BaseField>>(
        &self,
        frame: &EvaluationFrame<E>,
        periodic_values: &[E],
        result: &mut [E],
    ) {
        let x = frame.current()[0] + periodic_values[0];
        result[0] = frame.next()[0] - x.exp(7u32.into());
    }

    fn get_assertions(&self) -> Vec<Assertion<Self::BaseField>> {
        let last = self.trace_length() - 1;
        vec![Assertion::single(0, 0, self.start), Assertion::single(0, last, self.result)]
    }

    fn get_periodic_column_values(&self) -> Vec<Vec<Self::BaseField>> {
        vec![round_constants()]
    }

    fn context(&self) -> &AirContext<Self::BaseField> {
        &self.context
    }
}

type Hash = Blake3_256<BaseElement>;

/// The prover: winterfell's defaults, Blake3 Merkle commitments.
pub(crate) struct MimcProver {
    options: ProofOptions,
    inputs: PublicInputs,
}

impl MimcProver {
    pub(crate) fn new(options: ProofOptions, inputs: PublicInputs) -> Self {
        MimcProver { options, inputs }
    }
}

impl Prover for MimcProver {
    type BaseField = BaseElement;
    type Air = MimcAir;
    type Trace = TraceTable<BaseElement>;
    type HashFn = Hash;
    type VC = MerkleTree<Hash>;
    type RandomCoin = DefaultRandomCoin<Hash>;
    type TraceLde<E: FieldElement<BaseField = BaseElement>> = DefaultTraceLde<E, Hash, Self::VC>;
    type ConstraintCommitment<E: FieldElement<BaseField = BaseElement>> =
        DefaultConstraintCommitment<E, Hash, Self::VC>;
    type ConstraintEvaluator<'a, E: FieldElement<BaseField = BaseElement>> = DefaultConstraintEvaluator<'a, MimcAir, E>;

    fn get_pub_inputs(&self, _trace: &Self::Trace) -> PublicInputs {
        self.inputs.clone()
    }

    fn options(&self) -> &ProofOptions {
        &self.options
    }

    fn new_trace_lde<E: FieldElement<BaseField = BaseElement>>(
        &self,
        trace_info: &TraceInfo,
        main_trace: &ColMatrix<BaseElement>,
        domain: &StarkDomain<BaseElement>,
        partition_option: PartitionOptions,
    ) -> (Self::TraceLde<E>, TracePolyTable<E>) {
        DefaultTraceLde::new(trace_info, main_trace, domain, partition_option)
    }

    fn build_constraint_commitment<E: FieldElement<BaseField = BaseElement>>(
        &self,
        composition_poly_trace: CompositionPolyTrace<E>,
        num_constraint_composition_columns: usize,
        domain: &StarkDomain<BaseElement>,
        partition_options: PartitionOptions,
    ) -> (Self::ConstraintCommitment<E>, CompositionPoly<E>) {
        DefaultConstraintCommitment::new(
            composition_poly_trace,
            num_constraint_composition_columns,
            domain,
            partition_options,
        )
    }

    fn new_evaluator<'a, E: FieldElement<BaseField = BaseElement>>(
        &self,
        air: &'a MimcAir,
        aux_rand_elements: Option<AuxRandElements<E>>,
        composition_coefficients: ConstraintCompositionCoefficients<E>,
    ) -> Self::ConstraintEvaluator<'a, E> {
        DefaultConstraintEvaluator::new(air, aux_rand_elements, composition_coefficients)
    }
}
