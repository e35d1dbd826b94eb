import { NodeConnectionTypes, type INodeType, type INodeTypeDescription } from 'n8n-workflow';
import { jobDescription } from './resources/job';
import { reviewDescription } from './resources/review';
import { taskDescription } from './resources/task';
import { classifyItems } from './resources/task/classify';

export class Tiergate implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Tiergate',
		// Published name: never rename it, or saved workflows lose the node.
		name: 'tiergate',
		icon: { light: 'file:../../icons/tiergate.svg', dark: 'file:../../icons/tiergate.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["operation"] + ": " + $parameter["resource"]}}',
		description:
			'Send LLM tasks to the cheapest model tier that does them well, with checks, escalation and human review',
		defaults: {
			name: 'Tiergate',
		},
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [
			{
				name: 'tiergateApi',
				required: true,
			},
		],
		requestDefaults: {
			baseURL: '={{$credentials.baseUrl.replace(/\\/+$/, "")}}',
			headers: {
				Accept: 'application/json',
				'Content-Type': 'application/json',
			},
		},
		properties: [
			{
				displayName: 'Resource',
				name: 'resource',
				type: 'options',
				noDataExpression: true,
				options: [
					{
						name: 'Task',
						value: 'task',
					},
					{
						name: 'Job',
						value: 'job',
					},
					{
						name: 'Review',
						value: 'review',
					},
				],
				default: 'task',
			},
			...taskDescription,
			...jobDescription,
			...reviewDescription,
		],
	};

	customOperations = {
		task: {
			classify: classifyItems,
		},
	};
}
