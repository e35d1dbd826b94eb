import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeProperties,
	IWebhookFunctions,
	IWebhookResponseData,
} from 'n8n-workflow';
import { NodeOperationError, WAIT_INDEFINITELY } from 'n8n-workflow';
import { createHmac, timingSafeEqual } from 'crypto';
import {
	externalField,
	metadataOption,
	riskField,
	taskTypeField,
	textField,
} from '../../shared/descriptions';
import { CREDENTIAL_TYPE, tiergateApiRequest } from '../../shared/transport';

const showOnlyForRunAndWait = {
	resource: ['task'],
	operation: ['runAndWaitForReview'],
};

/** Callbacks older than this are refused, so a captured one cannot be replayed later. */
const MAX_CALLBACK_AGE_SECONDS = 300;

export const runAndWaitForReviewDescription: INodeProperties[] = [
	{ ...taskTypeField, displayOptions: { show: showOnlyForRunAndWait }, routing: undefined },
	{ ...textField, displayOptions: { show: showOnlyForRunAndWait }, routing: undefined },
	{ ...riskField, displayOptions: { show: showOnlyForRunAndWait }, routing: undefined },
	{
		...externalField,
		default: true,
		displayOptions: { show: showOnlyForRunAndWait },
		routing: undefined,
	},
	{
		displayName: 'Options',
		name: 'waitOptions',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		displayOptions: { show: showOnlyForRunAndWait },
		options: [
			{
				displayName: 'Max Cost (USD)',
				name: 'maxCostUsd',
				type: 'number',
				typeOptions: { minValue: 0, numberPrecision: 4 },
				default: 0.05,
				description: 'Spend cap for this task, escalations included',
			},
			{ ...metadataOption, routing: undefined },
		],
	},
];

function parseMetadata(this: IExecuteFunctions, value: unknown): IDataObject | undefined {
	if (value === undefined || value === '' || value === '{}') return undefined;
	if (typeof value !== 'string') return value as IDataObject;
	try {
		return JSON.parse(value) as IDataObject;
	} catch {
		throw new NodeOperationError(this.getNode(), 'Metadata is not valid JSON');
	}
}

/**
 * Run the task; when Tiergate holds the answer for review, park the execution until the reviewer's
 * decision comes back to this node's resume URL (like a Wait node set to "On Webhook Call").
 *
 * One execution waits on one resume URL, so the first incoming item is run; put the node in a
 * sub-workflow or after "Loop Over Items" to review many items one by one.
 */
export async function runAndWaitForReview(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	if (items.length === 0) return [[]];
	const resumeUrl = String(this.getWorkflowDataProxy(0).$execution.resumeUrl);
	const options = this.getNodeParameter('waitOptions', 0, {}) as IDataObject;
	const body: IDataObject = {
		text: this.getNodeParameter('text', 0) as string,
		risk: this.getNodeParameter('risk', 0, 'low') as string,
		external: this.getNodeParameter('external', 0, true) as boolean,
		exec: 'sync',
		callback_url: resumeUrl,
	};
	const taskType = this.getNodeParameter('taskType', 0, '') as string;
	if (taskType) body.task_type = taskType;
	if (options.maxCostUsd !== undefined) body.max_cost_usd = options.maxCostUsd;
	const metadata = parseMetadata.call(this, options.metadata);
	if (metadata) body.metadata = metadata;

	const answer = await tiergateApiRequest.call(this, 'POST', '/v1/fallback', body);
	if (answer.job_id && answer.status === 'queued') {
		throw new NodeOperationError(this.getNode(), 'Tiergate queued the task instead of answering', {
			description:
				'The task outlasted Tiergate\'s synchronous bound. Use "Run With Fallback" with a Wait node for long tasks.',
		});
	}
	if (answer.needs_review !== true) {
		return [[{ json: { ...answer, decided: false }, pairedItem: { item: 0 } }]];
	}
	await this.putExecutionToWait(WAIT_INDEFINITELY);
	return [[{ json: answer, pairedItem: { item: 0 } }]];
}

function validSignature(secret: string, timestamp: string, rawBody: Buffer, signature: string): boolean {
	const expected = `sha256=${createHmac('sha256', secret)
		.update(`${timestamp}.`)
		.update(rawBody)
		.digest('hex')}`;
	const given = Buffer.from(signature);
	const wanted = Buffer.from(expected);
	return given.length === wanted.length && timingSafeEqual(given, wanted);
}

/**
 * The resume call: Tiergate's `review.decided` callback. With a Callback Secret on the credential the
 * signature and its age are checked; a call that fails the check is refused and the run keeps waiting.
 */
export async function resumeOnDecision(this: IWebhookFunctions): Promise<IWebhookResponseData> {
	const request = this.getRequestObject();
	const response = this.getResponseObject();
	const credentials = await this.getCredentials(CREDENTIAL_TYPE);
	const secret = String(credentials.callbackSecret ?? '');
	if (secret) {
		const timestamp = String(request.headers['x-tiergate-timestamp'] ?? '');
		const signature = String(request.headers['x-tiergate-signature'] ?? '');
		const rawBody = (request as unknown as { rawBody?: Buffer }).rawBody ?? Buffer.from('');
		const age = Math.abs(Date.now() / 1000 - Number(timestamp));
		if (!timestamp || !(age <= MAX_CALLBACK_AGE_SECONDS) || !validSignature(secret, timestamp, rawBody, signature)) {
			response.status(401).json({ error: 'bad or missing X-Tiergate-Signature' });
			return { noWebhookResponse: true };
		}
	}
	const decision = request.body as IDataObject;
	if (decision.event !== 'review.decided') {
		// A job.finished callback is not a decision: acknowledge it and keep waiting.
		response.status(200).json({ ok: true, waiting: true });
		return { noWebhookResponse: true };
	}
	return {
		workflowData: [
			[{ json: { ...decision, decided: true, approved: decision.action === 'approve' } }],
		],
	};
}
