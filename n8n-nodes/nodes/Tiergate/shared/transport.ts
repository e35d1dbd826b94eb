import type {
	IDataObject,
	IExecuteFunctions,
	IExecuteSingleFunctions,
	IHttpRequestMethods,
	ILoadOptionsFunctions,
	IHttpRequestOptions,
	IN8nHttpFullResponse,
	INodeExecutionData,
	JsonObject,
} from 'n8n-workflow';
import { NodeApiError, NodeOperationError, sleep } from 'n8n-workflow';

export const CREDENTIAL_TYPE = 'tiergateApi';

/** Defaults for waiting on a queued answer, in seconds. */
export const JOB_TIMEOUT_SECONDS = 900;
export const JOB_POLL_SECONDS = 2;

type TiergateContext = IExecuteFunctions | IExecuteSingleFunctions | ILoadOptionsFunctions;

/** Job states after which `GET /v1/jobs/<id>` no longer changes. */
const FINISHED_JOB_STATES = ['done', 'finished', 'needs_review', 'failed', 'canceled', 'cancelled'];

function stripTrailingSlashes(url: string): string {
	let end = url.length;
	while (end > 0 && url[end - 1] === '/') end--;
	return url.slice(0, end);
}

/** Call a Tiergate endpoint with the node's credential and return the parsed JSON answer. */
export async function tiergateApiRequest(
	this: TiergateContext,
	method: IHttpRequestMethods,
	path: string,
	body?: IDataObject,
	headers?: IDataObject,
): Promise<IDataObject> {
	const credentials = await this.getCredentials(CREDENTIAL_TYPE);
	const options: IHttpRequestOptions = {
		method,
		url: `${stripTrailingSlashes(String(credentials.baseUrl))}${path}`,
		body,
		headers,
		json: true,
	};
	try {
		return (await this.helpers.httpRequestWithAuthentication.call(
			this,
			CREDENTIAL_TYPE,
			options,
		)) as IDataObject;
	} catch (error) {
		// Tiergate answers every error as {"error": {"code", "message", "field"}}; surface its
		// message instead of the bare status line.
		const detail = ((error as JsonObject).response as IDataObject | undefined)?.body as
			| IDataObject
			| undefined;
		const tiergateError = detail?.error as IDataObject | undefined;
		throw new NodeApiError(this.getNode(), error as JsonObject, {
			message: tiergateError?.message ? String(tiergateError.message) : undefined,
			description: tiergateError?.field ? `Field: ${String(tiergateError.field)}` : undefined,
		});
	}
}

/**
 * Poll `GET /v1/jobs/<id>` until the job finishes and return its result.
 *
 * Tiergate runs large lists as background jobs whatever the caller asked for, so a node that
 * promised a synchronous answer has to wait for the job itself.
 */
export async function waitForJob(
	this: TiergateContext,
	jobId: string,
	timeoutSeconds: number,
	pollSeconds: number,
): Promise<IDataObject> {
	const deadline = Date.now() + timeoutSeconds * 1000;
	for (;;) {
		const job = await tiergateApiRequest.call(this, 'GET', `/v1/jobs/${encodeURIComponent(jobId)}`);
		const status = String(job.status ?? '');
		if (FINISHED_JOB_STATES.includes(status)) {
			if (status === 'failed' || !job.result) {
				throw new NodeOperationError(this.getNode(), `Tiergate job ${jobId} ended as ${status}`, {
					description: JSON.stringify(job.result ?? job),
				});
			}
			return job.result as IDataObject;
		}
		if (Date.now() >= deadline) {
			throw new NodeOperationError(
				this.getNode(),
				`Tiergate job ${jobId} still ${status || 'running'} after ${timeoutSeconds} s`,
				{ description: 'Raise "Job Timeout" or poll the job later with the Get Job operation' },
			);
		}
		await sleep(pollSeconds * 1000);
	}
}

/**
 * After `POST /v1/fallback`: when Tiergate answered 202 because the cascade outlasted its sync bound,
 * wait for the job here, so a synchronous run still hands the final answer to the next node.
 *
 * n8n has no 30-second limit like Zapier, so waiting is the friendlier default; with Execution set to
 * "Queue It" the 202 answer is passed on as it is.
 */
export async function awaitQueuedAnswer(
	this: IExecuteSingleFunctions,
	items: INodeExecutionData[],
	response: IN8nHttpFullResponse,
): Promise<INodeExecutionData[]> {
	const body = response.body as IDataObject;
	const exec = this.getNodeParameter('fallbackOptions.exec', 'sync') as string;
	if (response.statusCode !== 202 || exec === 'async' || !body?.job_id) return items;
	const result = await waitForJob.call(
		this as IExecuteSingleFunctions,
		String(body.job_id),
		Number(this.getNodeParameter('fallbackOptions.jobTimeoutSeconds', JOB_TIMEOUT_SECONDS)),
		JOB_POLL_SECONDS,
	);
	return items.map((item) => ({ ...item, json: result }));
}

/** The fields of a `/v1/fallback` answer that a workflow usually reads; the rest is audit detail. */
const SIMPLE_FALLBACK_FIELDS = [
	'request_id',
	'job_id',
	'status',
	'status_url',
	'output',
	'needs_review',
	'review_id',
	'review_url',
	'review_reasons',
	'task_type',
	'tier',
	'model',
	'escalated',
	'cost_usd',
	'saving_usd',
	'metadata',
];

/** With "Simplify" on, keep only the fields a workflow usually reads (no attempts list). */
export async function simplifyFallbackAnswer(
	this: IExecuteSingleFunctions,
	items: INodeExecutionData[],
): Promise<INodeExecutionData[]> {
	if (!this.getNodeParameter('simplify', true)) return items;
	return items.map((item) => {
		const simple: IDataObject = {};
		for (const field of SIMPLE_FALLBACK_FIELDS) {
			if (item.json[field] !== undefined) simple[field] = item.json[field];
		}
		return { ...item, json: simple };
	});
}
