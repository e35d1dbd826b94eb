import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeProperties,
} from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import { idempotencyKeyOption, taskTypeField } from '../../shared/descriptions';
import {
	JOB_POLL_SECONDS,
	JOB_TIMEOUT_SECONDS,
	tiergateApiRequest,
	waitForJob,
} from '../../shared/transport';

const showOnlyForClassify = {
	resource: ['task'],
	operation: ['classify'],
};

export const classifyDescription: INodeProperties[] = [
	{
		displayName: 'Text',
		name: 'text',
		type: 'string',
		default: '={{ $json.text }}',
		required: true,
		displayOptions: { show: showOnlyForClassify },
		description:
			'The text to label, read from each incoming item. All items go to Tiergate in one request.',
	},
	{
		displayName: 'Labels',
		name: 'labels',
		type: 'string',
		default: '',
		required: true,
		placeholder: 'e.g. B2B, B2C, Unsure',
		displayOptions: { show: { ...showOnlyForClassify, '@version': [1] } },
		description: 'The allowed labels, separated by commas',
	},
	{
		displayName: 'Labels',
		name: 'labelList',
		type: 'fixedCollection',
		typeOptions: { multipleValues: true, sortable: true },
		placeholder: 'Add Label',
		default: { labels: [] },
		required: true,
		displayOptions: { show: { ...showOnlyForClassify, '@version': [{ _cnd: { gte: 1.1 } }] } },
		description: 'The allowed labels; a description helps the model tell them apart',
		options: [
			{
				displayName: 'Label',
				name: 'labels',
				values: [
					{
						displayName: 'Name',
						name: 'name',
						type: 'string',
						default: '',
						placeholder: 'e.g. B2B',
						required: true,
					},
					{
						displayName: 'Description',
						name: 'description',
						type: 'string',
						default: '',
						placeholder: 'e.g. The lead buys for a company',
						description: 'What the label means, for the model',
					},
				],
			},
		],
	},
	{
		...taskTypeField,
		default: 'list_classification',
		displayOptions: { show: showOnlyForClassify },
		description:
			'The task type of the Tiergate policy these labels belong to. Choose from the list, or specify an ID using an <a href="https://docs.n8n.io/code/expressions/">expression</a>.',
		routing: undefined,
	},
	{
		displayName: 'One Output per Label',
		name: 'outputPerLabel',
		type: 'boolean',
		default: false,
		displayOptions: { show: { ...showOnlyForClassify, '@version': [{ _cnd: { gte: 1.1 } }] } },
		description:
			'Whether to send each item to the output of its label, and items held for review or left unknown to an "Other / Needs Review" output',
	},
	{
		displayName: 'Options',
		name: 'classifyOptions',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		displayOptions: { show: showOnlyForClassify },
		options: [
			{
				displayName: 'Allow Unknown',
				name: 'allowUnknown',
				type: 'boolean',
				default: true,
				description:
					'Whether an item the models cannot place gets the label "unknown" and a review flag instead of a forced guess',
			},
			{
				displayName: 'Confidence Threshold',
				name: 'confidenceThreshold',
				type: 'number',
				typeOptions: { minValue: 0, maxValue: 1, numberPrecision: 2 },
				default: 0.75,
				description: 'Below this the item is escalated once, then flagged for review',
			},
			{
				...idempotencyKeyOption,
				routing: undefined,
			},
			{
				displayName: 'Instructions',
				name: 'instructions',
				type: 'string',
				typeOptions: { rows: 3 },
				default: '',
				description: 'What the labels mean and how to choose between them',
			},
			{
				displayName: 'Job Poll Interval (Seconds)',
				name: 'pollSeconds',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 2,
				description: 'How often to ask for the result when Tiergate runs the list as a job',
			},
			{
				displayName: 'Job Timeout (Seconds)',
				name: 'jobTimeoutSeconds',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 900,
				description: 'How long to wait for a list that Tiergate runs as a background job',
			},
			{
				displayName: 'Metadata',
				name: 'metadata',
				type: 'json',
				default: '{}',
				description: 'Your own fields, stored with the request and echoed back',
			},
		],
	},
];

type Label = string | { name: string; description: string };

function labelName(label: Label): string {
	return typeof label === 'string' ? label : label.name;
}

/** The labels in either shape: v1's comma-separated text, v1.1's list of {name, description}. */
function readLabels(this: IExecuteFunctions): Label[] {
	if (this.getNode().typeVersion < 1.1) {
		return (this.getNodeParameter('labels', 0) as string)
			.split(',')
			.map((label) => label.trim())
			.filter((label) => label.length > 0);
	}
	const entries = (this.getNodeParameter('labelList.labels', 0, []) as IDataObject[]) ?? [];
	return entries
		.map((entry) => ({
			name: String(entry.name ?? '').trim(),
			description: String(entry.description ?? '').trim(),
		}))
		.filter((entry) => entry.name.length > 0)
		.map((entry) => (entry.description ? entry : entry.name));
}

function parseJsonOption(this: IExecuteFunctions, value: unknown): IDataObject | undefined {
	if (value === undefined || value === '') return undefined;
	if (typeof value !== 'string') return value as IDataObject;
	try {
		return JSON.parse(value) as IDataObject;
	} catch {
		throw new NodeOperationError(this.getNode(), 'Metadata is not valid JSON');
	}
}

/**
 * Label every incoming item with one `POST /v1/classify` call.
 *
 * This is the one operation that cannot be declarative: routing sends one request per item,
 * while Tiergate prices and batches a whole list at once, so 3,000 rows must travel together
 * and each answer must land back on the row it came from.
 */
export async function classifyItems(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	if (items.length === 0) return [[]];

	const labels = readLabels.call(this);
	if (labels.length === 0) {
		throw new NodeOperationError(this.getNode(), 'Give at least one label');
	}
	const taskType = this.getNodeParameter('taskType', 0, '') as string;
	const options = this.getNodeParameter('classifyOptions', 0, {}) as IDataObject;

	const body: IDataObject = {
		items: items.map((_, index) => ({
			id: String(index),
			text: String(this.getNodeParameter('text', index) ?? ''),
		})),
		text_field: 'text',
		id_field: 'id',
		labels,
	};
	if (taskType) body.task_type = taskType;
	if (options.instructions) body.instructions = options.instructions;
	if (options.confidenceThreshold !== undefined) {
		body.confidence_threshold = options.confidenceThreshold;
	}
	if (options.allowUnknown !== undefined) body.allow_unknown = options.allowUnknown;
	const metadata = parseJsonOption.call(this, options.metadata);
	if (metadata) body.metadata = metadata;

	let answer: IDataObject;
	try {
		const headers = options.idempotencyKey
			? { 'Idempotency-Key': String(options.idempotencyKey) }
			: undefined;
		answer = await tiergateApiRequest.call(this, 'POST', '/v1/classify', body, headers);
		if (answer.job_id && !Array.isArray(answer.results)) {
			answer = await waitForJob.call(
				this,
				String(answer.job_id),
				Number(options.jobTimeoutSeconds ?? JOB_TIMEOUT_SECONDS),
				Number(options.pollSeconds ?? JOB_POLL_SECONDS),
			);
		}
	} catch (error) {
		if (this.continueOnFail()) {
			return [
				items.map((item, index) => ({
					json: { ...item.json, error: (error as Error).message },
					pairedItem: { item: index },
				})),
			];
		}
		throw new NodeOperationError(this.getNode(), error as Error);
	}

	const results = (answer.results ?? []) as IDataObject[];
	if (results.length !== items.length) {
		throw new NodeOperationError(
			this.getNode(),
			`Tiergate returned ${results.length} labels for ${items.length} items`,
		);
	}
	const byId = new Map(results.map((result) => [String(result.id), result]));
	const labelled = items.map((item, index) => {
		const result = byId.get(String(index)) ?? results[index];
		const json: IDataObject = {
			...item.json,
			label: result.label,
			confidence: result.confidence,
			reason: result.reason,
			model: result.model,
			needs_review: result.needs_review === true,
			request_id: answer.request_id,
		};
		if (result.review_id !== undefined) json.review_id = result.review_id;
		return { json, pairedItem: { item: index } };
	});

	const perLabel =
		this.getNode().typeVersion >= 1.1 && (this.getNodeParameter('outputPerLabel', 0, false) as boolean);
	if (!perLabel) return [labelled];
	// Like n8n's Text Classifier: one output per label in the order given, then "Other / Needs
	// Review" for items held for review, labelled unknown, or without an answer.
	const names = labels.map(labelName);
	const outputs: INodeExecutionData[][] = [...names.map(() => []), []];
	for (const item of labelled) {
		const at = item.json.needs_review ? -1 : names.indexOf(String(item.json.label));
		outputs[at === -1 ? names.length : at].push(item);
	}
	return outputs;
}
