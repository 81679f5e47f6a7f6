import {
  type Logger,
  type ModelFileReader,
  type ModelProvider,
  type ModelRequest,
  type SurrogateModel,
  type SurrogateModelGroup,
  silentLogger,
} from '@po/core';
import { trainingDomainOf } from './domain.ts';
import { fuseOnnxModels } from './fuse.ts';
import {
  checkRequest,
  checkSignature,
  loadMetadata,
  loadNetwork,
  loadScalers,
  openedSession,
  readSkillFiles,
  scalingFor,
} from './loaders.ts';
import { createSession, readSignature, SessionPool } from './onnx-session.ts';
import { type LoadedModel, OnnxModelGroup, OnnxSurrogateModel } from './surrogate.ts';

/** Options of `createModelProvider`. */
export interface ModelProviderOptions {
  /**
   * Reads a file by the path the strategy names (`model_path`, `scaler_path`,
   * `metadata_path`). Use `localModelFiles(dir)` for a local folder laid out like the bucket.
   */
  readFile: ModelFileReader;
  /** Diagnostics (session created or reused, models not fused). Silent by default. */
  logger?: Logger | undefined;
}

/** A model provider that also releases every session it still holds. */
export interface OnnxModelProvider extends ModelProvider {
  load(request: ModelRequest): Promise<LoadedModel>;
  fuse(models: readonly SurrogateModel[]): Promise<SurrogateModelGroup | undefined>;
  /** Disposes every model this provider loaded and has not disposed yet. */
  dispose(): Promise<void>;
}

/**
 * Creates the ONNX-backed `ModelProvider`. Each model file gets one ONNX Runtime session
 * (one thread, all graph optimizations), shared by every skill that loads the same bytes
 * and released when the last of them is disposed. `load` rejects with @po/core's
 * `ModelLoadError` (scope `models`, a precise code such as `FILE_NOT_FOUND`).
 */
export function createModelProvider(options: ModelProviderOptions): OnnxModelProvider {
  const { readFile } = options;
  const logger = options.logger ?? silentLogger;
  const sessions = new SessionPool(logger);
  const live = new Set<OnnxSurrogateModel>();

  const load = async (request: ModelRequest): Promise<LoadedModel> => {
    checkRequest(request);
    const files = await readSkillFiles(request, readFile);
    const metadata = loadMetadata(request, files);
    const scalers = loadScalers(request, files);
    const network = loadNetwork(request, files, metadata);
    const shared = sessions.acquire(network.sessionKey, network.onnx);
    let model: OnnxSurrogateModel;
    try {
      const session = await openedSession(request, shared.session);
      const signature = checkSignature(request, readSignature(session));
      model = new OnnxSurrogateModel({
        request,
        session,
        onnxBytes: network.onnx,
        signature,
        ...scalingFor(request, scalers),
        files: files.files,
        metadata,
        domain: trainingDomainOf(request, metadata, scalers),
        onDispose: async () => {
          live.delete(model);
          await sessions.release(network.sessionKey, shared);
        },
      });
    } catch (error) {
      await sessions.release(network.sessionKey, shared);
      throw error;
    }
    live.add(model);
    return model;
  };

  const fuse = async (models: readonly SurrogateModel[]): Promise<SurrogateModelGroup | undefined> => {
    const members = models.filter(
      (m): m is OnnxSurrogateModel => m instanceof OnnxSurrogateModel && live.has(m),
    );
    if (members.length !== models.length || members.length < 2) return undefined;
    const skills = members.map((m) => m.skill);
    const fused = fuseOnnxModels(members.map((m) => m.onnxBytes));
    if (typeof fused === 'string') {
      logger.debug({ skills }, `[po/models] models not fused: ${fused}`);
      return undefined;
    }
    const session = await createSession(fused.bytes);
    const group = new OnnxModelGroup(members, session, fused.inputs, fused.outputs);
    // The fused graph must give exactly what the members give; otherwise they run one by one.
    if (!(await group.agreesWithMembers())) {
      logger.warn({ skills }, '[po/models] fused models disagree with the separate ones; not fused');
      await group.dispose();
      return undefined;
    }
    return group;
  };

  return {
    load,
    fuse,
    async dispose(): Promise<void> {
      await Promise.all([...live].map((m) => m.dispose()));
    },
  };
}
